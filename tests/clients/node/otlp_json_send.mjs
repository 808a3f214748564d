// Sends COUNT logs through the OpenTelemetry JavaScript SDK's logs exporter (OTLP/JSON over
// HTTP): node otlp_json_send.mjs URL COUNT CLIENT_ID [TOKEN]. Each record carries seq and
// client_id attributes for exact accounting. Exits 1 when an export failed.
import { logs } from "@opentelemetry/api-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";

const [url, countText, clientId, token] = process.argv.slice(2);
const exporter = new OTLPLogExporter({
  url,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  timeoutMillis: 10000,
});
let failed = 0;
const exportBatch = exporter.export.bind(exporter);
exporter.export = (records, done) =>
  exportBatch(records, (result) => {
    if (result.code !== 0) {
      failed += records.length;
      console.error(`export failed: ${result.error}`);
    }
    done(result);
  });
const provider = new LoggerProvider({
  resource: resourceFromAttributes({ "service.name": "web-frontend", "host.name": "node-host" }),
  processors: [new BatchLogRecordProcessor({ exporter, maxExportBatchSize: 250 })],
});
const logger = provider.getLogger("frontend-js", "3.1.0");
for (let i = 0; i < Number(countText); i++) {
  logger.emit({
    severityNumber: 13,
    severityText: "WARN",
    body: `slow render ${i}`,
    attributes: { seq: i, client_id: clientId, route: `/p/${i % 7}`, big: 2 ** 40 + i },
  });
}
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify({ sent: Number(countText), failed }));
process.exit(failed ? 1 : 0);
