"""The operator's inventory import (`openband inventory import FILE.csv`).

Once the `inventory_numbers` table has any row it IS the inventory, replacing the generated one
(see search). Rows are upserted, so a file may be imported again.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from openband.core.inventory.geography import TOLL_FREE_NPAS
from openband.core.inventory.query import STATE, ZIP, clean, upper_words
from openband.core.phone import tn_to_e164
from openband.errors import InvalidInput
from openband.store import inventory as store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

IMPORT_COLUMNS = ("number", "city", "state", "rate_center", "lata", "zip")


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.imported / self.seconds if self.seconds else 0.0


def parse_import_row(row: Mapping[str, str | None]) -> dict[str, object]:
    """One CSV row -> an inventory_numbers row (raises InvalidInput)."""
    raw = (row.get("number") or "").strip()
    if not raw:
        raise InvalidInput("number is required", field="number")
    tn = tn_to_e164(raw)
    npa, nxx, line = tn[2:5], tn[5:8], tn[8:]

    def text(name: str, limit: int) -> str | None:
        v = clean(row.get(name))
        if v is not None and len(v) > limit:
            raise InvalidInput(f"{name} is longer than {limit} characters", field=name)
        return v

    state = text("state", 2)
    if state is not None:
        if not STATE.match(state):
            raise InvalidInput(f"state {state!r} is not a two-letter code", field="state")
        state = state.upper()
    lata = text("lata", 8)
    if lata is not None and not (lata.isascii() and lata.isdigit()):
        raise InvalidInput(f"lata {lata!r} is not numeric", field="lata")
    zip_code = clean(row.get("zip"))
    if zip_code is not None:
        m = ZIP.match(zip_code)
        if not m:
            raise InvalidInput(f"zip {zip_code!r} is not a US zip code", field="zip")
        zip_code = m.group(1)
    city = text("city", 64)
    rc = text("rate_center", 32)
    return {
        "tn": tn, "npa": npa, "nxx": nxx, "line": line,
        "city": upper_words(city) if city else None, "state": state,
        "rate_center": upper_words(rc) if rc else None, "lata": lata, "zip": zip_code,
        "toll_free": npa in TOLL_FREE_NPAS,
    }  # fmt: skip


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header: Sequence[str] = IMPORT_COLUMNS
        for lineno, cells in enumerate(reader, start=1):
            if not cells or not any(c.strip() for c in cells):
                continue
            if lineno == 1 and cells[0].strip().lower() in ("number", "tn", "telephonenumber"):
                header = [c.strip().lower() for c in cells]
                header = ["number" if h in ("tn", "telephonenumber") else h for h in header]
                continue
            yield lineno, dict(zip(header, cells, strict=False))


def import_csv(engine: Engine, path: Path, batch_size: int = 20_000) -> ImportReport:
    """Upsert a CSV into inventory_numbers in batches (idempotent: a row may be imported again)."""
    report = ImportReport()
    started = time.perf_counter()
    batch: list[dict[str, object]] = []
    for lineno, row in _csv_rows(path):
        report.rows += 1
        try:
            batch.append(parse_import_row(row))
        except InvalidInput as exc:
            report.rejected += 1
            if len(report.errors) < 10:
                report.errors.append(f"line {lineno}: {exc.description}")
            continue
        if len(batch) >= batch_size:
            report.imported += store.bulk_upsert(engine, batch)
            batch = []
    if batch:
        report.imported += store.bulk_upsert(engine, batch)
    report.seconds = time.perf_counter() - started
    return report
