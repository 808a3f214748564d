"""The shippers' own protocols: what OpenTelemetry SDKs, Splunk and Elasticsearch clients, Loki
agents (and, next, Fluent Forward and GELF senders) send, mapped onto the one log entry.

One module per protocol (``otlp``, ``hec``, ``elasticsearch``, ``loki``), each a
``base.ShipperCodec`` with its routes; ``workbench.formats.PROTOCOLS`` names them. The ingestor's
HTTP handler (``workbench.ingestor.http1``) parses requests, checks auth and limits, undoes
``Content-Encoding`` and calls the codec: ``decode`` turns a request into validated entries and
rejections (or an immediate reply), ``reply`` answers once the entries are written.
"""
