"""The generator's shippers' protocols against a real in-process ingestor: every (client_id, seq)
is stored exactly once and acked == sent; a wrong token gives failed counts, never acked ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ingest_helpers import assert_exactly_once, config, read_stored, run, totals, wait_counts

from workbench.generator import Generator, GeneratorConfig
from workbench.generator.protocols import PROTOCOL_NAMES
from workbench.ingestor.service import Ingestor


async def _send(data_dir: Path, token: str | None = None, **gen: Any) -> dict[str, Any]:
    async with Ingestor(config(data_dir, auth_token="right" if token else None)) as ing:
        cfg = GeneratorConfig(tcp_port=ing.tcp_port, ca_file=ing.cert_path, interval_ms=0, stats_interval_seconds=0,
                              retry_backoff_seconds=0.01, auth_token=token, **gen)  # fmt: skip
        summary = (await Generator(cfg).run()).as_dict()
        if summary["totals"]["acked_logs_total"]:
            await wait_counts(ing, logs=summary["totals"]["acked_logs_total"])
        summary["ingestor"] = totals(ing)
    return summary


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_every_record_is_stored_once_and_acked(tmp_path: Path, protocol: str) -> None:
    # 2 clients of 1,550: full requests of 200 and a last one cut to 150 (the re-encoded tail)
    summary = run(_send(tmp_path, protocol=protocol, count=3100, clients=2, batch_size=200, token="right"))
    t = summary["totals"]
    assert t["sent_logs_total"] == t["acked_logs_total"] == 3100
    assert t["failed_logs_total"] == 0 and t["requests_total"] == 16
    assert summary["protocol"] == protocol and summary["transport"] == "tls"
    assert set(summary["responses"]) == {"grpc-0" if protocol == "otlp-grpc" else
                                         "http-204" if protocol == "loki" else "http-200"}  # fmt: skip
    stored = read_stored(tmp_path)
    assert_exactly_once(stored, {c["client_id"]: 1550 for c in summary["clients"]})
    assert {rec["format"] for rec in stored} == {protocol.split("-")[0]}
    rec = stored[0]
    assert rec["level"] in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL") and rec["message"]
    assert rec["timestamp"] <= rec["received_at"]  # the send time patched in, not the sentinel
    assert summary["ingestor"]["rejected"] == 0


@pytest.mark.parametrize("protocol", ["otlp-http", "otlp-grpc", "hec", "elasticsearch", "loki"])
def test_a_wrong_token_gives_failed_logs_not_acked_ones(tmp_path: Path, protocol: str) -> None:
    summary = run(_send(tmp_path, protocol=protocol, count=1000, batch_size=250, token="wrong"))
    t = summary["totals"]
    assert (t["sent_logs_total"], t["acked_logs_total"], t["failed_logs_total"]) == (0, 0, 1000)
    assert t["failed_batches_total"] == 4
    expected = {"otlp-grpc": "grpc-16", "hec": "http-403"}.get(protocol, "http-401")
    assert summary["responses"] == {expected: 4}
    assert read_stored(tmp_path) == []


def test_plain_tcp_and_the_duration_stop(tmp_path: Path) -> None:
    async def go() -> dict[str, Any]:
        async with Ingestor(config(tmp_path, tls=False)) as ing:
            cfg = GeneratorConfig(tcp_port=ing.tcp_port, tls=False, protocol="otlp-grpc", duration_seconds=1.0,
                                  clients=3, batch_size=500, interval_ms=0, stats_interval_seconds=0)  # fmt: skip
            summary = (await Generator(cfg).run()).as_dict()
            await wait_counts(ing, logs=summary["totals"]["acked_logs_total"])
            return summary

    summary = run(go())
    t = summary["totals"]
    assert summary["stopped_by"] == "duration" and t["sent_logs_total"] > 0
    assert t["sent_logs_total"] == t["acked_logs_total"] and t["failed_logs_total"] == 0
    assert_exactly_once(read_stored(tmp_path), {c["client_id"]: c["sent_logs"] for c in summary["clients"]})


def test_a_slice_of_the_shippers_scenario_accounts_for_every_log(tmp_path: Path) -> None:
    """Cells of ``scenarios/shippers.yaml`` (a request protocol, Forward with chunk acks, GELF over
    UDP to the GELF port the runner opens, and the proto baseline), short."""
    from workbench.scenario.model import expand, load_scenario, parse_scenario
    from workbench.scenario.runner import run_scenario

    full = load_scenario(Path(__file__).parents[2] / "scenarios" / "shippers.yaml")
    assert len(expand(full)) == 12  # 10 shipper protocols and the proto and json streams
    data = full.model_dump(mode="json", exclude_none=True)
    data.update(duration=1.5, warmup=0, placement={"type": "inprocess"}, registry={"enabled": False},
                ingestor={**data["ingestor"], "workers": 0})  # fmt: skip
    data["generators"][0].update(clients=2, rate=200_000)
    data["matrix"] = {"protocol": ["otlp-grpc", {"protocol": "forward", "ack": True},
                                   {"protocol": "gelf-udp", "rate": 4000, "batch": 10},
                                   {"protocol": "tcp", "format": "proto"}]}  # fmt: skip
    import yaml

    result = run_scenario(parse_scenario(yaml.safe_dump(data, sort_keys=False)), tmp_path, quiet=True)
    rows = {r["cell"]: r for r in result.summary.to_dicts()}
    udp = "protocol=gelf-udp-rate4000-batch10"
    assert set(rows) == {"protocol=otlp-grpc", "protocol=forward-ack", udp, "protocol=tcp-proto"}
    for name, row in rows.items():
        assert row["status"] == "ok" and row["sent"] > 0 and row["duplicated"] == 0, name
        assert row["stored"] + row["lost"] == row["sent"], name
        if name != udp:  # acked: nothing may be lost; UDP may lose a few datagrams, counted as lost
            assert row["lost"] == 0, name
    assert rows[udp]["stored"] >= 0.95 * rows[udp]["sent"]
    assert {name: row["ack"] for name, row in rows.items()} == {
        "protocol=otlp-grpc": True, "protocol=forward-ack": True, udp: False, "protocol=tcp-proto": False,
    }  # fmt: skip
    assert (
        rows["protocol=otlp-grpc"]["format"] == "otlp-grpc"
        and rows["protocol=tcp-proto"]["format"] == "proto"
        and rows[udp]["format"] == "gelf-udp"
    )
    assert rows["protocol=tcp-proto"]["ratio_to_baseline"] == 1.0
