"""popcen.download against a local HTTP server on 127.0.0.1 (no other address is ever contacted)."""

from __future__ import annotations

import hashlib
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from popcen.download import fetch, file_checksums, write_checksum_file
from popcen.errors import PopcenInputError


class FileServer:
    """Serves ``files`` (name -> bytes) with Range support; records every request's path and Range header.

    Faults, per file name: ``cut[name] = n`` sends only the first n bytes of the FIRST response (announcing
    the full length) and drops the connection; ``no_range`` lists files whose Range header is ignored.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.cut: dict[str, int] = {}
        self.no_range: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                if name not in server.files:
                    self.send_error(404, "Not Found")
                    return
                data = server.files[name]
                start = 0
                if rng and name not in server.no_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.cut:
                    self.wfile.write(body[: server.cut.pop(name)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = bytes(range(256)) * 4000 + b"tail"  # ~1 MB, not a multiple of the chunk size


@pytest.fixture
def server():
    srv = FileServer({"a.vcf.gz": PAYLOAD, "small.txt": b"hello\n"})
    yield srv
    srv.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fast(**kw):
    return {"retries": 3, "timeout": 10, "backoff": 0.0, "chunk_size": 65536, "progress": False, **kw}


def test_download_verified_and_atomic(server, tmp_path):
    dest = tmp_path / "sub" / "a.vcf.gz"
    sums = fetch(
        server.url("a.vcf.gz"), dest, sha256=sha(PAYLOAD), md5=hashlib.md5(PAYLOAD).hexdigest(), **fast()
    )
    assert dest.read_bytes() == PAYLOAD
    assert (sums.sha256, sums.size) == (sha(PAYLOAD), len(PAYLOAD))
    assert not (tmp_path / "sub" / "a.vcf.gz.part").exists()
    assert server.requests == [("a.vcf.gz", None)]


def test_resumes_a_partial_file_with_a_range_request(server, tmp_path):
    dest = tmp_path / "a.vcf.gz"
    (tmp_path / "a.vcf.gz.part").write_bytes(PAYLOAD[:300_000])
    fetch(server.url("a.vcf.gz"), dest, sha256=sha(PAYLOAD), **fast())
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("a.vcf.gz", "bytes=300000-")]


def test_dropped_connection_is_resumed(server, tmp_path, caplog):
    server.cut["a.vcf.gz"] = 123_457
    dest = tmp_path / "a.vcf.gz"
    with caplog.at_level(logging.INFO, logger="popcen"):
        fetch(server.url("a.vcf.gz"), dest, sha256=sha(PAYLOAD), **fast())
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("a.vcf.gz", None), ("a.vcf.gz", "bytes=123457-")]
    assert "retrying" in caplog.text and "resuming" in caplog.text


def test_server_that_ignores_ranges_restarts_from_zero(server, tmp_path):
    server.no_range.add("a.vcf.gz")
    (tmp_path / "a.vcf.gz.part").write_bytes(b"garbage that is not the start of the file")
    fetch(server.url("a.vcf.gz"), tmp_path / "a.vcf.gz", sha256=sha(PAYLOAD), **fast())
    assert (tmp_path / "a.vcf.gz").read_bytes() == PAYLOAD


def test_complete_part_file_is_not_downloaded_again(server, tmp_path):
    (tmp_path / "a.vcf.gz.part").write_bytes(PAYLOAD)
    fetch(server.url("a.vcf.gz"), tmp_path / "a.vcf.gz", sha256=sha(PAYLOAD), **fast())
    assert (tmp_path / "a.vcf.gz").read_bytes() == PAYLOAD
    assert server.requests == [("a.vcf.gz", f"bytes={len(PAYLOAD)}-")]


def test_checksum_mismatch_is_a_clear_error_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "a.vcf.gz"
    wrong = sha(b"something else")
    with pytest.raises(PopcenInputError, match=f"sha256 mismatch: expected {wrong}, got {sha(PAYLOAD)}"):
        fetch(server.url("a.vcf.gz"), dest, sha256=wrong, **fast())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PopcenInputError, match="md5 mismatch"):
        fetch(server.url("a.vcf.gz"), dest, md5="0" * 32, **fast())
    assert list(tmp_path.iterdir()) == []


def test_corrupted_partial_file_fails_verification(server, tmp_path):
    """A .part whose first bytes are wrong is resumed (the server cannot know) and then caught by the hash."""
    (tmp_path / "a.vcf.gz.part").write_bytes(b"X" * 1000)
    with pytest.raises(PopcenInputError, match="sha256 mismatch"):
        fetch(server.url("a.vcf.gz"), tmp_path / "a.vcf.gz", sha256=sha(PAYLOAD), **fast())
    assert list(tmp_path.iterdir()) == []
    fetch(server.url("a.vcf.gz"), tmp_path / "a.vcf.gz", sha256=sha(PAYLOAD), **fast())  # a rerun recovers
    assert (tmp_path / "a.vcf.gz").read_bytes() == PAYLOAD


def test_missing_file_is_a_clear_error(server, tmp_path):
    with pytest.raises(PopcenInputError, match="HTTP 404"):
        fetch(server.url("nope.vcf.gz"), tmp_path / "nope.vcf.gz", **fast())
    assert list(tmp_path.iterdir()) == []
    assert len(server.requests) == 1  # a 404 is not retried


def test_unverified_download_logs_its_checksums(server, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="popcen"):
        sums = fetch(server.url("small.txt"), tmp_path / "small.txt", **fast())
    assert sums.sha256 == sha(b"hello\n") and sums.md5 == hashlib.md5(b"hello\n").hexdigest()
    assert "UNVERIFIED" in caplog.text and sha(b"hello\n") in caplog.text


def test_gives_up_after_the_retries(tmp_path):
    srv = FileServer({"a": PAYLOAD})
    url = srv.url("a")
    srv.close()  # nothing listens on that port any more
    with pytest.raises(PopcenInputError, match="after 3 attempts"):
        fetch(url, tmp_path / "a", **fast(retries=2))
    assert not (tmp_path / "a").exists()


def test_checksum_file_is_sha256sum_format(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    sums = file_checksums(tmp_path / "f")
    write_checksum_file(tmp_path / "f.sha256", "f", sums, verified=False)
    first, second = (tmp_path / "f.sha256").read_text().splitlines()
    assert first == f"{sha(b'abc')}  f"
    assert hashlib.md5(b"abc").hexdigest() in second and "UNVERIFIED" in second


def test_plan_expands_contigs_and_picks_checksums():
    from popcen.download import plan_downloads

    plan = plan_downloads(
        {
            "vcf": {
                "url": "https://x.org/d/ALL.{contig}.vcf.gz",
                "contigs": ["chr1", "chr2"],
                "sha256": {"chr1": "a" * 64},
                "md5": None,
            },
            "panel": {"url": "https://x.org/d/p.panel", "sha256": "b" * 64},
            "map": {"url": None, "file": "map.bed"},
        }
    )
    assert sorted(plan) == [
        ("map", "map.bed"),
        ("panel", "p.panel"),
        ("vcf", "ALL.chr1.vcf.gz"),
        ("vcf", "ALL.chr2.vcf.gz"),
    ]
    assert (
        plan[("vcf", "ALL.chr1.vcf.gz")].sha256 == "a" * 64
        and plan[("vcf", "ALL.chr2.vcf.gz")].sha256 is None
    )
    assert plan[("vcf", "ALL.chr2.vcf.gz")].url == "https://x.org/d/ALL.chr2.vcf.gz"
    assert plan[("vcf", "ALL.chr2.vcf.gz")].contig == "chr2"
    assert plan[("map", "map.bed")].url is None
    with pytest.raises(PopcenInputError, match="needs `contigs`"):
        plan_downloads({"x": {"url": "https://x.org/{contig}.vcf.gz"}})
    with pytest.raises(PopcenInputError, match="one file, one checksum"):
        plan_downloads({"x": {"url": "https://x.org/a", "sha256": {"chr1": "a" * 64}}})
    with pytest.raises(PopcenInputError, match="`file` must name it"):
        plan_downloads({"x": {"url": None}})


def test_project_config_plans_the_public_inputs():
    """The shipped `downloads` section is valid and lists what docs/cluster.md promises."""
    import jsonschema
    import yaml

    from popcen.download import plan_downloads
    from tests.conftest import ROOT

    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    schema = yaml.safe_load((ROOT / "config/schemas/downloads.schema.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(config)
    plan = plan_downloads(config["downloads"]["files"])
    entries = {spec.entry for spec in plan.values()}
    assert {
        "kg_phase3_vcf",
        "kg_phase3_vcf_index",
        "kg_phase3_panel",
        "sgdp_bcf",
        "hg19_fasta",
        "vernot_akey_map",
        "gencode_v19_gtf",
    } <= entries
    assert sum(spec.entry == "kg_phase3_vcf" for spec in plan.values()) == 22
    for spec in plan.values():
        assert spec.url is None or spec.url.startswith("https://"), spec
