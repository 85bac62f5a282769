// Drive npm bandwidth-sdk@8.1.4 (OpenAPI/axios, unmodified) against a live OpenBand: Voice v2
// calls and recordings (CallsApi, RecordingsApi, Bxml).
//
//   node voice_node.js DASH ACCOUNT USER PASS   (DASH = http://127.0.0.1:PORT/api)
//
// The SDK gets basePath DASH + "/v2". The pytest fixture provisions a Voice-V2 application first
// and passes OB_VOICE_APP_ID, OB_VOICE_NUMBERS, OB_VOICE_HANDSET (a simulator handset answering
// after 2 s) and OB_VOICE_HOOKS (the receiver's base URL for this driver, …/node: it answers
// /answer, /redirected and /record with BXML). Prints ONE JSON object: {"sdk", "steps": {name:
// {ok, value, error, http: [...]}}}.
//
// This SDK resolves on any 2xx and validates nothing, so every step reports the status codes and
// checks each JSON body against the TypeScript interface the SDK declares for it
// (dist/models/*.d.ts): keys it does not declare, values of the wrong type (enums by the SDK's
// own enum objects), nulls where the type is not nullable, missing required keys. The
// simulator's timeline (GET /sim/v1/calls/{id}, with fetch, not the SDK) tells when what the
// handset hears has changed.
"use strict";

const fs = require("fs");
const path = require("path");

const sdkDir = path.join(__dirname, "..", "node_modules", "bandwidth-sdk");
const sdk = require(sdkDir);
const { Configuration, CallsApi, RecordingsApi, Bxml } = sdk;
const axios = require(require.resolve("axios", { paths: [sdkDir] }));

const [DASH, ACCOUNT, USER, PASSWORD] = process.argv.slice(2);
const ROOT = DASH.replace(/\/api$/, "");
const BASE = ROOT + "/api/v2";
const APP_ID = process.env.OB_VOICE_APP_ID;
const NUMBERS = process.env.OB_VOICE_NUMBERS.split(",");
const HANDSET = process.env.OB_VOICE_HANDSET;
const HOOKS = process.env.OB_VOICE_HOOKS;
const WAIT_MS = 30000;
const STEP_TIMEOUT_MS = 60000;

let http = [];

function bodyText(data) {
  if (data === undefined || data === null) return "";
  if (Buffer.isBuffer(data)) return `<${data.length} bytes>`;
  if (data instanceof ArrayBuffer) return `<${data.byteLength} bytes>`;
  if (typeof data === "string") return data.slice(0, 1500);
  return JSON.stringify(data).slice(0, 1500);
}

function record(res) {
  const cfg = res.config || {};
  http.push({
    method: (cfg.method || "").toUpperCase(),
    url: cfg.url,
    request_content_type: cfg.headers && cfg.headers["Content-Type"],
    request_body: bodyText(cfg.data),
    status: res.status,
    headers: {
      "content-type": res.headers && res.headers["content-type"],
      location: res.headers && res.headers["location"],
    },
    body: bodyText(res.data),
  });
}

axios.interceptors.response.use(
  (res) => {
    record(res);
    return res;
  },
  (err) => {
    if (err && err.response) record(err.response);
    else http.push({ method: err && err.config && err.config.method, url: err && err.config && err.config.url, status: null, body: String(err) });
    return Promise.reject(err);
  },
);

const steps = {};
const state = {};

function errText(err) {
  if (!err) return "unknown error";
  let out = `${err.name || "Error"}: ${err.message || err}`;
  if (err.response) out += ` status=${err.response.status} body=${bodyText(err.response.data)}`;
  if (err.stack) out += " | " + err.stack.split("\n").slice(1, 4).join(" / ").trim();
  return out.slice(0, 3000);
}

async function run(name, fn, ...needs) {
  const missing = needs.filter((n) => !(steps[n] && steps[n].ok));
  if (missing.length) {
    steps[name] = { ok: false, value: null, error: `not run: needs ${JSON.stringify(missing)}`, http: [] };
    return;
  }
  http = [];
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`step timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    });
    const value = await Promise.race([fn(), timeout]);
    steps[name] = { ok: true, value: value === undefined ? null : value, error: null, http };
  } catch (err) {
    steps[name] = { ok: false, value: null, error: errText(err), http };
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- the SDK's declared response types --------------------------------------------------------------

const INTERFACES = {};

function iface(file) {
  // The top-level members of the interface in dist/models/<file>.d.ts: name -> {types, optional}.
  if (!INTERFACES[file]) {
    const text = fs.readFileSync(path.join(sdkDir, "dist", "models", `${file}.d.ts`), "utf8");
    const members = {};
    for (const m of text.matchAll(/^ {4}'(\w+)'(\?)?: ([^;{]*)([;{])/gm)) {
      // An inline object type (`{ [key: string]: string } | null`) is taken as object or null.
      const types = m[4] === "{" ? ["object", "null"] : m[3].split("|").map((t) => t.trim()).filter(Boolean);
      members[m[1]] = { optional: Boolean(m[2]), types };
    }
    INTERFACES[file] = members;
  }
  return INTERFACES[file];
}

function fits(value, type) {
  if (type === "null") return value === null;
  if (type === "string" || type === "number" || type === "boolean") return typeof value === type;
  if (type.endsWith("Enum") && sdk[type]) return Object.values(sdk[type]).includes(value);
  return value !== null && typeof value === "object";
}

function conform(obj, file) {
  // Everything in `obj` that the SDK's TypeScript type for it does not allow.
  const members = iface(file);
  const problems = [];
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return [`not an object: ${JSON.stringify(obj)}`];
  for (const [k, v] of Object.entries(obj)) {
    const m = members[k];
    if (!m) problems.push(`${k}: not declared`);
    else if (!m.types.some((t) => fits(v, t))) problems.push(`${k}: ${JSON.stringify(v)} is not ${m.types.join(" | ")}`);
  }
  for (const [k, m] of Object.entries(members)) {
    if (!m.optional && !(k in obj)) problems.push(`${k}: required, missing`);
  }
  return problems;
}

// --- the simulator's view (not the SDK) -----------------------------------------------------------

async function simHeard(callId) {
  const auth = Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
  const res = await fetch(`${ROOT}/sim/v1/calls/${callId}`, { headers: { Authorization: `Basic ${auth}` } });
  const doc = await res.json();
  return doc.timeline.filter((e) => e.kind === "heard").map((e) => e.detail.text || "");
}

async function waitHeard(callId, text) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const heard = await simHeard(callId);
    if (heard.includes(text)) return heard;
    if (Date.now() > deadline) throw new Error(`the handset did not hear ${JSON.stringify(text)}; heard ${JSON.stringify(heard)}`);
    await sleep(100);
  }
}

// --- calls ----------------------------------------------------------------------------------------

const cfg = new Configuration({ basePath: BASE, username: USER, password: PASSWORD });
const calls = new CallsApi(cfg);
const recordings = new RecordingsApi(cfg);

async function create(answer, tag) {
  const req = { to: HANDSET, from: NUMBERS[0], applicationId: APP_ID, answerUrl: `${HOOKS}/${answer}`, disconnectUrl: `${HOOKS}/disconnect` };
  if (tag) req.tag = tag;
  const res = await calls.createCall(ACCOUNT, req);
  return { status: res.status, location: res.headers.location || null, data: res.data, problems: conform(res.data, "create-call-response") };
}

async function waitState(callId, want) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const res = await calls.getCallState(ACCOUNT, callId);
    if ((res.data && res.data.state === want) || Date.now() > deadline) {
      return { status: res.status, data: res.data, problems: conform(res.data, "call-state") };
    }
    await sleep(100);
  }
}

async function createCall() {
  const out = await create("answer", "node-call");
  state.call = out.data.callId;
  return out;
}

const answered = () => waitState(state.call, "answered");

async function listCalls() {
  const byTo = await calls.listCalls(ACCOUNT, HANDSET);
  const byFrom = await calls.listCalls(ACCOUNT, undefined, NUMBERS[0], undefined, undefined, undefined, 100);
  const nobody = await calls.listCalls(ACCOUNT, "+19845550100");
  const items = [...byTo.data, ...byFrom.data];
  return {
    statuses: [byTo.status, byFrom.status, nobody.status],
    arrays: [byTo.data, byFrom.data, nobody.data].map(Array.isArray),
    byTo: byTo.data,
    byFromIds: byFrom.data.map((c) => c.callId),
    nobody: nobody.data.length,
    problems: items.flatMap((c) => conform(c, "call-state")),
  };
}

async function redirect() {
  const res = await calls.updateCall(ACCOUNT, state.call, { state: "active", redirectUrl: `${HOOKS}/redirected` });
  return { status: res.status, body: bodyText(res.data), heard: await waitHeard(state.call, "Redirected") };
}

async function updateBxml() {
  const doc = new Bxml.Bxml([new Bxml.SpeakSentence("Replaced by the SDK"), new Bxml.Pause({ duration: 60 })]).toBxml();
  const res = await calls.updateCallBxml(ACCOUNT, state.call, doc);
  return { status: res.status, body: bodyText(res.data), bxml: doc, heard: await waitHeard(state.call, "Replaced by the SDK") };
}

async function hangUp() {
  const res = await calls.updateCall(ACCOUNT, state.call, { state: "completed" });
  return { status: res.status, body: bodyText(res.data), after: await waitState(state.call, "disconnected") };
}

// --- errors (voiceApiError) -------------------------------------------------------------------------

async function failure(promise) {
  try {
    const res = await promise;
    return { rejected: false, status: res.status, data: res.data };
  } catch (err) {
    if (!err || !err.response) throw err;
    return {
      rejected: true,
      isAxiosError: axios.isAxiosError(err),
      status: err.response.status,
      data: err.response.data,
      problems: conform(err.response.data, "voice-api-error"),
    };
  }
}

const errorNotFound = () => failure(calls.getCallState(ACCOUNT, "c-00000000-nobody"));
const errorEndedCall = () => failure(calls.updateCall(ACCOUNT, state.call, { state: "active", redirectUrl: `${HOOKS}/redirected` }));

// --- recordings -----------------------------------------------------------------------------------

async function recordCall() {
  const out = await create("record");
  state.recCall = out.data.callId;
  return { create: out, after: await waitState(state.recCall, "disconnected") };
}

async function listCallRecordings() {
  const deadline = Date.now() + WAIT_MS;
  let res;
  for (;;) {
    res = await recordings.listCallRecordings(ACCOUNT, state.recCall);
    if ((Array.isArray(res.data) && res.data.length) || Date.now() > deadline) break;
    await sleep(200);
  }
  const items = Array.isArray(res.data) ? res.data : [];
  if (items.length) state.recording = items[0].recordingId;
  return { status: res.status, isArray: Array.isArray(res.data), items, problems: items.flatMap((m) => conform(m, "call-recording-metadata")) };
}

async function getCallRecording() {
  const res = await recordings.getCallRecording(ACCOUNT, state.recCall, state.recording);
  return { status: res.status, data: res.data, problems: conform(res.data, "call-recording-metadata") };
}

async function downloadCallRecording() {
  const res = await recordings.downloadCallRecording(ACCOUNT, state.recCall, state.recording, { responseType: "arraybuffer" });
  const buf = Buffer.from(res.data);
  return {
    status: res.status,
    size: buf.length,
    riff: buf.subarray(0, 4).toString("latin1"),
    wave: buf.subarray(8, 12).toString("latin1"),
    contentType: res.headers["content-type"],
  };
}

(async () => {
  await run("create_call", createCall);
  await run("answered", answered, "create_call");
  await run("list_calls", listCalls, "answered");
  await run("redirect", redirect, "answered");
  await run("update_bxml", updateBxml, "answered");
  await run("hang_up", hangUp, "answered");
  await run("error_not_found", errorNotFound);
  await run("error_ended_call", errorEndedCall, "hang_up");
  await run("record_call", recordCall);
  await run("list_call_recordings", listCallRecordings, "record_call");
  await run("get_call_recording", getCallRecording, "list_call_recordings");
  await run("download_call_recording", downloadCallRecording, "list_call_recordings");
  process.stdout.write(JSON.stringify({ sdk: "bandwidth-sdk@8.1.4", base: BASE, steps }) + "\n");
})().catch((err) => {
  process.stdout.write(JSON.stringify({ sdk: "bandwidth-sdk@8.1.4", fatal: errText(err), steps }) + "\n");
  process.exitCode = 1;
});
