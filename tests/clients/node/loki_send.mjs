// Sends COUNT logs through winston-loki (npm: Loki's push API, snappy-compressed protobuf by
// default, JSON with --json): node loki_send.mjs URL COUNT CLIENT_ID [TOKEN] [--json].
// seq and client_id travel as stream labels, for exact accounting.
import winston from "winston";
import LokiTransport from "winston-loki";

const [host, countText, clientId, ...rest] = process.argv.slice(2);
const json = rest.includes("--json");
const token = rest.find((a) => a !== "--json");
let failed = 0;
const transport = new LokiTransport({
  host,
  json,
  batching: true,
  interval: 0.2,
  labels: { job: "checkout-js", host: "pod-7" },
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  timeout: 10000,
  onConnectionError: (err) => {
    failed += 1;
    console.error(`push failed: ${err}`);
  },
});
const logger = winston.createLogger({ level: "debug", transports: [transport] });
for (let i = 0; i < Number(countText); i++) {
  logger.log({ level: i % 3 === 0 ? "error" : "info", message: `cart ${i} checked out`,
               labels: { seq: String(i), client_id: clientId } });
}
await transport.flush();
transport.close?.();
console.log(JSON.stringify({ sent: Number(countText), failed }));
process.exit(failed ? 1 : 0);
