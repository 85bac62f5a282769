// Drive npm bandwidth-sdk@8.1.4 (OpenAPI/axios, unmodified) against a live OpenBand:
// Messaging v2 messages and media.
//
//   node messaging_node.js DASH ACCOUNT USER PASS   (DASH = http://127.0.0.1:PORT/api)
//
// The SDK gets basePath DASH + "/v2". The pytest fixture provisions the account first and passes
// OB_MSG_APP_ID, OB_MSG_NUMBERS (2, comma-separated), OB_MSG_HANDSETS (3 numbers nobody owns) and
// OB_MSG_TAG in the environment. Prints ONE JSON object: {"sdk", "steps": {name: {ok, value,
// error, http: [...]}}}.
//
// This SDK resolves on any 2xx and validates nothing, so every step reports the status codes of
// the axios responses and the test asserts the documented ones (202/200/204). HTTP exchanges are
// recorded with interceptors on the axios instance the SDK uses; its requests are not changed.
"use strict";

const path = require("path");
const crypto = require("crypto");

const sdkDir = path.join(__dirname, "..", "node_modules", "bandwidth-sdk");
const { Configuration, MessagesApi, MediaApi } = require(sdkDir);
const axios = require(require.resolve("axios", { paths: [sdkDir] }));

const [DASH, ACCOUNT, USER, PASSWORD] = process.argv.slice(2);
const BASE = DASH.replace(/\/api$/, "") + "/api/v2";
const APP_ID = process.env.OB_MSG_APP_ID;
const NUMBERS = process.env.OB_MSG_NUMBERS.split(",");
const HANDSETS = process.env.OB_MSG_HANDSETS.split(",");
const TAG = process.env.OB_MSG_TAG;
const LIST_TIMEOUT_MS = 20000;
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
      "www-authenticate": res.headers && res.headers["www-authenticate"],
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
const state = { sent: [] };

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

function config(password = PASSWORD) {
  return new Configuration({ basePath: BASE, username: USER, password });
}

const messages = new MessagesApi(config());
const media = new MediaApi(config());
const RUN = crypto.randomBytes(5).toString("hex");
const TEXT_MEDIA = `compat-node/${RUN}/note.txt`;
const TEXT = `hello from npm bandwidth-sdk 8.1.4 ${RUN}\n`;
const PNG_MEDIA = `compat-node/${RUN}/pixel.png`;
const PNG = Buffer.concat([
  Buffer.from("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "latin1"),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
]);

async function failure(promise) {
  try {
    const res = await promise;
    return { rejected: false, status: res.status, data: res.data };
  } catch (err) {
    if (!err || !err.response) throw err;
    return {
      rejected: true,
      error: err.name,
      isAxiosError: axios.isAxiosError(err),
      status: err.response.status,
      data: err.response.data,
    };
  }
}

function describeMessage(res) {
  const m = res.data || {};
  state.sent.push(m.id);
  return {
    status: res.status,
    id: m.id,
    owner: m.owner,
    applicationId: m.applicationId,
    time: m.time,
    segmentCount: m.segmentCount,
    direction: m.direction,
    to: m.to,
    from: m.from,
    text: m.text,
    media: m.media,
    tag: m.tag,
    priority: m.priority,
    keys: Object.keys(m).sort(),
  };
}

async function send(to, text, mediaUrls) {
  const body = { applicationId: APP_ID, to, from: NUMBERS[0], text, tag: TAG };
  if (mediaUrls) body.media = mediaUrls;
  return describeMessage(await messages.createMessage(ACCOUNT, body));
}

// --- media ---------------------------------------------------------------------------------------

async function mediaUpload() {
  const a = await media.uploadMedia(ACCOUNT, TEXT_MEDIA, TEXT, "text/plain");
  const b = await media.uploadMedia(ACCOUNT, PNG_MEDIA, PNG, "image/png", "no-cache");
  return { statuses: [a.status, b.status], bodies: [bodyText(a.data), bodyText(b.data)] };
}

async function mediaList() {
  const res = await media.listMedia(ACCOUNT);
  const items = res.data;
  const mine = {};
  for (const m of Array.isArray(items) ? items : []) {
    if (m.mediaName === TEXT_MEDIA || m.mediaName === PNG_MEDIA) {
      mine[m.mediaName] = { content: m.content, contentLength: m.contentLength };
    }
  }
  state.mediaUrls = Object.fromEntries(Object.entries(mine).map(([k, v]) => [k, v.content]));
  return {
    status: res.status,
    isArray: Array.isArray(items),
    mine,
    expected: { [TEXT_MEDIA]: Buffer.byteLength(TEXT), [PNG_MEDIA]: PNG.length },
  };
}

async function mediaGet() {
  const text = await media.getMedia(ACCOUNT, TEXT_MEDIA, { responseType: "arraybuffer" });
  const png = await media.getMedia(ACCOUNT, PNG_MEDIA, { responseType: "arraybuffer" });
  return {
    statuses: [text.status, png.status],
    textEqual: Buffer.from(text.data).equals(Buffer.from(TEXT)),
    pngEqual: Buffer.from(png.data).equals(PNG),
    contentTypes: [text.headers["content-type"], png.headers["content-type"]],
    cacheControl: png.headers["cache-control"] || null,
  };
}

async function mediaDelete() {
  const res = await media.deleteMedia(ACCOUNT, TEXT_MEDIA);
  const after = await failure(media.getMedia(ACCOUNT, TEXT_MEDIA));
  const listed = (await media.listMedia(ACCOUNT)).data.some((m) => m.mediaName === TEXT_MEDIA);
  return { status: res.status, body: bodyText(res.data), getAfterDelete: after.status, listedAfterDelete: listed };
}

// --- messages ------------------------------------------------------------------------------------

const smsCreate = () => send([HANDSETS[0]], `sms from npm bandwidth-sdk 8.1.4 ${RUN}`);
const mmsCreate = () =>
  send([HANDSETS[1]], `mms from npm bandwidth-sdk 8.1.4 ${RUN}`, [state.mediaUrls[PNG_MEDIA]]);
const groupCreate = () => send([HANDSETS[1], HANDSETS[2]], `group from npm bandwidth-sdk 8.1.4 ${RUN}`);

async function messagesList() {
  const want = state.sent.filter(Boolean);
  const deadline = Date.now() + LIST_TIMEOUT_MS;
  let res;
  for (;;) {
    res = await messages.listMessages(ACCOUNT, undefined, NUMBERS[0]);
    const ids = new Set(((res.data && res.data.messages) || []).map((m) => m.messageId));
    if (want.every((id) => ids.has(id)) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const d = res.data || {};
  return {
    status: res.status,
    totalCount: d.totalCount,
    pageInfo: d.pageInfo,
    items: (d.messages || []).map((m) => ({
      messageId: m.messageId,
      accountId: m.accountId,
      sourceTn: m.sourceTn,
      destinationTn: m.destinationTn,
      messageStatus: m.messageStatus,
      messageDirection: m.messageDirection,
      messageType: m.messageType,
      segmentCount: m.segmentCount,
      receiveTime: m.receiveTime,
    })),
  };
}

// --- errors --------------------------------------------------------------------------------------

async function errorBadFrom() {
  return failure(
    messages.createMessage(ACCOUNT, { applicationId: APP_ID, to: [HANDSETS[0]], from: HANDSETS[2], text: "not my number" }),
  );
}

async function errorUnauthorized() {
  const bad = new MessagesApi(config(PASSWORD + "-wrong"));
  return {
    create: await failure(
      bad.createMessage(ACCOUNT, { applicationId: APP_ID, to: [HANDSETS[0]], from: NUMBERS[0], text: "wrong password" }),
    ),
    list: await failure(bad.listMessages(ACCOUNT, undefined, NUMBERS[0])),
  };
}

(async () => {
  await run("media_upload", mediaUpload);
  await run("media_list", mediaList, "media_upload");
  await run("media_get", mediaGet, "media_upload");
  await run("sms_create", smsCreate);
  await run("mms_create", mmsCreate, "media_list");
  await run("group_create", groupCreate);
  await run("messages_list", messagesList, "sms_create");
  await run("media_delete", mediaDelete, "media_get");
  await run("error_bad_from", errorBadFrom);
  await run("error_unauthorized", errorUnauthorized);
  process.stdout.write(JSON.stringify({ sdk: "bandwidth-sdk@8.1.4", base: BASE, steps }) + "\n");
})().catch((err) => {
  process.stdout.write(JSON.stringify({ sdk: "bandwidth-sdk@8.1.4", fatal: errText(err), steps }) + "\n");
  process.exitCode = 1;
});
