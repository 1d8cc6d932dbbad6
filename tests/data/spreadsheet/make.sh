#!/usr/bin/env bash
# Regenerates the spreadsheet fixtures of tests/spreadsheet_exports.rs: a
# small generated incident's three exports, then the same exports as a real
# spreadsheet program writes them. Not run by `cargo test`; run it by hand
# after changing the generator's exports, and commit what it writes.
#
# Needs: a built sidik (`cargo build`), python3, and LibreOffice Calc
# (Debian: `apt-get install --no-install-recommends libreoffice-calc-nogui`).
#
# Writes, beside this script:
#   plain/             orders.csv, payments.csv, ho_postings.csv as sidik's generator writes them
#   exports.xlsx       the three as sheets Orders, Pembayaran, Jurnal HO, saved by LibreOffice
#   exports.xls        the same workbook as Excel 97-2003
#   exports.ods        the same workbook as OpenDocument
#   id-semicolon/      the three saved by LibreOffice as CSV with `;`, Indonesian
#                      number formats (356.500, Rp 356.500,00) and local dates
#                      (12/01/2025 19:05:01,927) without an offset
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
sidik=${SIDIK:-$root/target/debug/sidik}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$sidik" sample generate --out "$work/inc" --scenario callback-failure --orders 1000 --seed 3 --force >/dev/null
rm -rf "$here/plain" "$here/id-semicolon"
mkdir -p "$here/plain" "$here/id-semicolon"
cp "$work/inc/data/orders.csv" "$work/inc/data/payments.csv" "$work/inc/data/ho_postings.csv" "$here/plain/"

# Each export as a flat OpenDocument sheet with typed cells and id-ID styles.
python3 "$here/to_fods.py" "$here/plain" "$work"

# LibreOffice writes the workbook and the CSVs; its own number and date
# formatting under the id-ID locale makes the text.
export HOME="$work/home"
for f in orders payments ho_postings; do
    # Field separator 59 (;), text delimiter 34 ("), UTF-8 (76), from line 1,
    # language 1057 (id-ID), cell contents as shown.
    soffice --headless --norestore --convert-to \
        'csv:Text - txt - csv (StarCalc):59,34,76,1,,1057,false,true,true,false,false' \
        --outdir "$here/id-semicolon" "$work/$f.fods" >/dev/null
done
for ext in xlsx xls ods; do
    soffice --headless --norestore --convert-to $ext --outdir "$work" "$work/exports.fods" >/dev/null
    cp "$work/exports.$ext" "$here/exports.$ext"
done
ls -l "$here/plain" "$here/id-semicolon" "$here"/exports.*
