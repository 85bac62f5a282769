// Drive npm @bandwidth/numbers@2.0.0 (unmodified) against a live OpenBand: the seed-004
// messaging setup flow (applications, site, location, SMS/MMS, application link, order).
//
//   node numbers_node.js BASE ACCOUNT USER PASS      (BASE = http://127.0.0.1:PORT/api)
//
// Prints ONE JSON object: {"sdk", "steps": {name: {ok, value, error, http: [...]}}}.
// HTTP exchanges are recorded by listening to superagent's "response" event on the client
// instance (prepareRequest wrapper); the requests the SDK builds are not changed.
"use strict";

const path = require("path");
const numbers = require(path.join(__dirname, "..", "node_modules", "@bandwidth", "numbers"));

const [BASE, ACCOUNT, USER, PASSWORD] = process.argv.slice(2);
const ORDER_TIMEOUT_MS = 60000;
const STEP_TIMEOUT_MS = 90000;

const client = new numbers.Client(ACCOUNT, USER, PASSWORD, null, null, { apiEndPoint: BASE });

let http = [];
const origPrepare = client.prepareRequest.bind(client);
client.prepareRequest = function (req) {
  const entry = { method: req.method, url: req.url, status: null, body: null };
  http.push(entry);
  req.on("response", (res) => {
    entry.status = res.status;
    entry.headers = {
      location: res.headers.location,
      "content-type": res.headers["content-type"],
    };
    entry.body = (res.text || "").slice(0, 1500);
  });
  req.on("error", (err) => {
    if (entry.status === null) entry.body = String(err && err.message);
    if (err && err.response && entry.status === null) {
      entry.status = err.response.status;
      entry.body = (err.response.text || "").slice(0, 1500);
    }
  });
  return origPrepare(req);
};

const steps = {};
const state = {};

function errText(err) {
  if (!err) return "unknown error";
  let out = `${err.name || "Error"}: ${err.message || err}`;
  if (err.code !== undefined) out += ` code=${err.code}`;
  if (err.status !== undefined) out += ` status=${err.status}`;
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
    // A TypeError thrown inside the SDK's own callbacks (e.g. reading an element the response
    // lacks) surfaces as an uncaught exception, not as a rejection: fail the step with it.
    const crashed = new Promise((_, reject) => {
      currentReject = reject;
      timer = setTimeout(() => reject(new Error(`step timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    });
    const value = await Promise.race([fn(), crashed]);
    steps[name] = { ok: true, value: value === undefined ? null : value, error: null, http };
  } catch (err) {
    steps[name] = { ok: false, value: null, error: errText(err), http };
  } finally {
    clearTimeout(timer);
    currentReject = null;
  }
}

let currentReject = null;
function onCrash(err) {
  if (currentReject) {
    currentReject(err);
  } else {
    steps._uncaught = { ok: false, value: null, error: errText(err), http: [] };
  }
}
process.on("uncaughtException", onCrash);
process.on("unhandledRejection", onCrash);

const str = (v) => (v === undefined || v === null ? null : String(v));
const asArray = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pollOrder(id) {
  const deadline = Date.now() + ORDER_TIMEOUT_MS;
  const seen = [];
  for (;;) {
    const res = await numbers.Order.getAsync(client, id);
    const status = str(res.orderStatus);
    if (seen[seen.length - 1] !== status) seen.push(status);
    if (["COMPLETE", "PARTIAL", "FAILED"].includes(status) || Date.now() > deadline) {
      const completed = res.completedNumbers ? asArray(res.completedNumbers.telephoneNumber) : [];
      return {
        status,
        statusesSeen: seen,
        completedNumbers: completed.map((t) => str(t && typeof t === "object" ? t.fullNumber : t)),
        completedQuantity: str(res.completedQuantity),
        failedQuantity: str(res.failedQuantity),
        orderId: str(res.order && res.order.id),
        siteId: str(res.order && res.order.siteId),
        peerId: str(res.order && res.order.peerId),
      };
    }
    await sleep(250);
  }
}

async function main() {
  await run("account_get", async () => {
    const acct = await numbers.Account.getAsync(client);
    return { accountId: str(acct.accountId), companyName: str(acct.companyName) };
  });

  await run("available_numbers", async () => {
    const res = await numbers.AvailableNumbers.listAsync(client, { areaCode: "910", quantity: 2 });
    const tns = asArray(res.telephoneNumberList && res.telephoneNumberList.telephoneNumber).map(str);
    state.available = tns;
    return { resultCount: str(res.resultCount), numbers: tns };
  });

  await run("app_messaging_create", async () => {
    const app = await numbers.Application.createMessagingApplicationAsync(client, {
      appName: "node-msg",
      msgCallbackUrl: "https://example.com/node/callbacks",
      callbackCreds: { userId: "cb-user", password: "cb-pass" },
    });
    state.msgApp = app;
    return {
      applicationId: str(app.applicationId),
      serviceType: str(app.serviceType),
      appName: str(app.appName),
      msgCallbackUrl: str(app.msgCallbackUrl),
    };
  });

  await run("app_voice_create", async () => {
    const app = await numbers.Application.createVoiceApplicationAsync(client, {
      appName: "node-voice",
      callInitiatedCallbackUrl: "https://example.com/node/voice",
    });
    state.voiceApp = app;
    return {
      applicationId: str(app.applicationId),
      serviceType: str(app.serviceType),
      appName: str(app.appName),
      callInitiatedCallbackUrl: str(app.callInitiatedCallbackUrl),
    };
  });

  await run("apps_list", async () => {
    const apps = await numbers.Application.listAsync(client);
    return apps.map((a) => ({ applicationId: str(a.applicationId), serviceType: str(a.serviceType), appName: str(a.appName) }));
  });

  await run(
    "app_get",
    async () => {
      const app = await numbers.Application.getAsync(client, state.msgApp.applicationId);
      return { applicationId: str(app.applicationId), serviceType: str(app.serviceType), appName: str(app.appName) };
    },
    "app_messaging_create",
  );

  await run("site_create", async () => {
    const site = await numbers.Site.createAsync(client, {
      name: "node-site",
      description: "@bandwidth/numbers compat",
      address: {
        houseNumber: "900",
        streetName: "Main Campus",
        streetSuffix: "Dr",
        city: "Raleigh",
        stateCode: "NC",
        zip: "27606",
        addressType: "Service",
      },
    });
    state.site = site;
    return { id: str(site.id), name: str(site.name), city: str(site.address && site.address.city) };
  });

  await run(
    "sites_list",
    async () => (await numbers.Site.listAsync(client)).map((s) => ({ id: str(s.id), name: str(s.name) })),
    "site_create",
  );

  await run(
    "sippeer_create",
    async () => {
      const peer = await numbers.SipPeer.createAsync(client, {
        siteId: state.site.id,
        peerName: "node-peer",
        isDefaultPeer: true,
      });
      state.peer = peer;
      return { id: str(peer.id), peerName: str(peer.peerName), isDefaultPeer: peer.isDefaultPeer };
    },
    "site_create",
  );

  await run(
    "sippeers_list",
    async () =>
      (await numbers.SipPeer.listAsync(client, state.site.id)).map((p) => ({ id: str(p.id), peerName: str(p.peerName) })),
    "sippeer_create",
  );

  await run(
    "sms_create",
    async () => {
      const res = await state.peer.createSmsSettingsAsync({
        sipPeerSmsFeatureSettings: {
          tollFree: true,
          shortCode: true,
          protocol: "HTTP",
          zone1: true,
          zone2: false,
          zone3: false,
          zone4: false,
          zone5: false,
        },
        httpSettings: {},
      });
      if (!res) throw new Error("createSmsSettings returned no sipPeerSmsFeature");
      const st = res.sipPeerSmsFeatureSettings || {};
      return {
        protocol: str(st.protocol),
        tollFree: st.tollFree,
        shortCode: st.shortCode,
        zone1: st.zone1,
        zone2: st.zone2,
        proxyPeerId: str(res.httpSettings && res.httpSettings.proxyPeerId),
      };
    },
    "sippeer_create",
  );

  await run(
    "sms_get",
    async () => {
      const res = await state.peer.getSmsSettingsAsync();
      const st = res.sipPeerSmsFeatureSettings || {};
      return { protocol: str(st.protocol), zone1: st.zone1, tollFree: st.tollFree };
    },
    "sms_create",
  );

  await run(
    "mms_create",
    async () => {
      const res = await state.peer.createMmsSettingsAsync({
        mmsSettings: { protocol: "HTTP" },
        protocols: { HTTP: { httpSettings: {} } },
      });
      if (!res) throw new Error("createMmsSettings returned no mmsFeature");
      const http1 = res.protocols && res.protocols.hTTP ? res.protocols.hTTP : res.protocols && res.protocols.HTTP;
      return {
        protocol: str(res.mmsSettings && res.mmsSettings.protocol),
        proxyPeerId: str(http1 && http1.httpSettings && http1.httpSettings.proxyPeerId),
      };
    },
    "sippeer_create",
  );

  await run(
    "mms_get",
    async () => {
      const res = await state.peer.getMmsSettingsAsync();
      return { protocol: str(res && res.mmsSettings && res.mmsSettings.protocol) };
    },
    "mms_create",
  );

  await run(
    "app_link",
    async () => {
      const res = await state.peer.editApplicationAsync({ httpMessagingV2AppId: state.msgApp.applicationId });
      return { httpMessagingV2AppId: res ? asArray(res.httpMessagingV2AppId).map(str) : null };
    },
    "sippeer_create",
    "app_messaging_create",
  );

  await run(
    "app_link_get",
    async () => {
      const apps = await state.peer.listApplicationAsync();
      return { httpMessagingV2AppId: asArray(apps.httpMessagingV2AppId).map(str) };
    },
    "app_link",
  );

  await run(
    "app_associated_sippeers",
    async () => {
      const peers = await state.msgApp.getSipPeersAsync();
      return asArray(peers).map((p) => ({ siteId: str(p.siteId), peerId: str(p.peerId), peerName: str(p.peerName) }));
    },
    "app_link",
  );

  await run(
    "order_create",
    async () => {
      const res = await numbers.Order.createAsync(client, {
        name: "node area code",
        customerOrderId: "node-ac-1",
        areaCodeSearchAndOrderType: { areaCode: "910", quantity: 1 },
        siteId: state.site.id,
        peerId: state.peer.id,
      });
      state.orderId = res.order.id;
      return { id: str(res.order.id), status: str(res.orderStatus), siteId: str(res.order.siteId), peerId: str(res.order.peerId) };
    },
    "sippeer_create",
  );

  await run("order_poll", async () => pollOrder(state.orderId), "order_create");

  await run("orders_list", async () => {
    const res = await numbers.Order.listAsync(client, { page: 1, size: 100 });
    const list = res.listOrderIdUserIdDate ? asArray(res.listOrderIdUserIdDate.orderIdUserIdDate) : [];
    return list.map((o) => ({ id: str(o.orderId), status: str(o.orderStatus) }));
  });

  await run("in_service_numbers", async () => {
    const res = await numbers.InServiceNumber.listAsync(client, { page: 1, size: 500 });
    return asArray(res.telephoneNumbers && res.telephoneNumbers.telephoneNumber).map(str);
  });

  await run(
    "sippeer_tns",
    async () => asArray(await state.peer.getTnsAsync()).map((t) => str(t.fullNumber)),
    "sippeer_create",
  );
}

main()
  .catch((err) => {
    steps._driver = { ok: false, value: null, error: errText(err), http: [] };
  })
  .finally(() => {
    process.stdout.write(JSON.stringify({ sdk: "@bandwidth/numbers@2.0.0", steps }) + "\n", () => process.exit(0));
  });
