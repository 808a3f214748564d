// Sends COUNT events through Fluent's Node.js logger (npm fluent-logger: the Forward protocol)
// with requireAckResponse, so each event's callback fires only once the server acked its chunk:
// node fluent_send.mjs PORT COUNT CLIENT_ID MODE [--ca FILE] [--key SHARED_KEY] [--wait SECONDS]
// MODE is Message, PackedForward or CompressedPackedForward. Waits up to --wait (30) seconds for the
// acks. Prints {"sent", "acked", "failed"}.
import fs from "node:fs";
import fluent from "fluent-logger";

const [portText, countText, clientId, eventMode, ...rest] = process.argv.slice(2);
const option = (name) => (rest.includes(name) ? rest[rest.indexOf(name) + 1] : undefined);
const ca = option("--ca");
const sharedKey = option("--key");
const waitSeconds = Number(option("--wait") ?? 30);
const count = Number(countText);
const sender = fluent.createFluentSender("checkout", {
  host: "127.0.0.1",
  port: Number(portText),
  timeout: 10.0,
  eventMode,
  requireAckResponse: true,
  ackResponseTimeout: 20000,
  flushInterval: 20,
  enableReconnect: false,
  tls: Boolean(ca),
  tlsOptions: ca ? { ca: [fs.readFileSync(ca)], servername: "localhost" } : {},
  security: sharedKey ? { clientHostname: "node-client", sharedKey, username: "", password: "" } : undefined,
  internalLogger: { info() {}, error: (m) => console.error(m) },
});
let acked = 0;
let failed = 0;
sender.on("error", (err) => console.error(`fluent error: ${err}`));
const done = new Promise((resolve) => {
  const settle = (err) => {
    if (err) failed += 1;
    else acked += 1;
    if (acked + failed === count) resolve();
  };
  for (let i = 0; i < count; i++) {
    sender.emit("web", { seq: i, client_id: clientId, message: `cart ${i} checked out`,
                         level: i % 3 === 0 ? "error" : "info" }, settle);
  }
});
const timeout = new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
await Promise.race([done, timeout]);
sender.end();
console.log(JSON.stringify({ sent: count, acked, failed }));
process.exit(acked === count ? 0 : 1);
