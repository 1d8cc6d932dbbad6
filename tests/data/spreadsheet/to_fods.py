#!/usr/bin/env python3
"""Writes each CSV export of DIR as a flat OpenDocument spreadsheet (.fods)
with typed cells: amounts as numbers in id-ID styles, times as dates in the
incident's local time (WIB), the rest as text. Also exports.fods, the three
as sheets of one workbook. Used by make.sh; LibreOffice does the rendering."""
import csv, datetime, sys
from xml.sax.saxutils import escape

src, out = sys.argv[1], sys.argv[2]
WIB = datetime.timezone(datetime.timedelta(hours=7))
AMOUNTS = {"amount", "amount_base", "amount_overtime", "amount_extra", "amount_tip", "amount_total"}
TIMES = {"created_at", "trip_start_at", "trip_end_at", "posted_at"}
SHEETS = [("orders", "Orders"), ("payments", "Pembayaran"), ("ho_postings", "Jurnal HO")]

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:styles>
 <style:default-style style:family="table-cell"><style:text-properties fo:language="id" fo:country="ID"/></style:default-style>
</office:styles>
<office:automatic-styles>
 <number:number-style style:name="N1" number:language="id" number:country="ID">
  <number:number number:decimal-places="0" number:min-decimal-places="0" number:min-integer-digits="1" number:grouping="true"/>
 </number:number-style>
 <number:currency-style style:name="C1" number:language="id" number:country="ID">
  <number:currency-symbol number:language="id" number:country="ID">Rp</number:currency-symbol>
  <number:text> </number:text>
  <number:number number:decimal-places="2" number:min-decimal-places="2" number:min-integer-digits="1" number:grouping="true"/>
 </number:currency-style>
 <number:date-style style:name="D1" number:language="id" number:country="ID">
  <number:day number:style="long"/><number:text>/</number:text>
  <number:month number:style="long"/><number:text>/</number:text>
  <number:year number:style="long"/><number:text> </number:text>
  <number:hours number:style="long"/><number:text>:</number:text>
  <number:minutes number:style="long"/><number:text>:</number:text>
  <number:seconds number:style="long" number:decimal-places="3"/>
 </number:date-style>
 <style:style style:name="ce1" style:family="table-cell" style:parent-style-name="Default" style:data-style-name="N1"/>
 <style:style style:name="ce2" style:family="table-cell" style:parent-style-name="Default" style:data-style-name="C1"/>
 <style:style style:name="ce3" style:family="table-cell" style:parent-style-name="Default" style:data-style-name="D1"/>
</office:automatic-styles>
<office:body><office:spreadsheet>
"""
TAIL = "</office:spreadsheet></office:body></office:document>\n"


def local(text):
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is not None:
        t = t.astimezone(WIB).replace(tzinfo=None)
    return t.isoformat(timespec="milliseconds")


def table(name, sheet):
    rows = list(csv.reader(open(f"{src}/{name}.csv", newline="")))
    header, body = rows[0], rows[1:]
    # Postings' amounts as currency (Rp 356.500,00), the others grouped (356.500).
    amount_style = "ce2" if name == "ho_postings" else "ce1"
    parts = [f'<table:table table:name="{escape(sheet)}">']
    for row in [header] + body:
        cells = []
        for col, v in zip(header, row):
            if row is header or v == "":
                cells.append(f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p></table:table-cell>' if v else "<table:table-cell/>")
            elif col in AMOUNTS:
                cells.append(f'<table:table-cell table:style-name="{amount_style}" office:value-type="float" office:value="{int(v)}"/>')
            elif col in TIMES:
                cells.append(f'<table:table-cell table:style-name="ce3" office:value-type="date" office:date-value="{local(v)}"/>')
            else:
                cells.append(f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p></table:table-cell>')
        parts.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
    parts.append("</table:table>")
    return "\n".join(parts)


tables = {name: table(name, sheet) for name, sheet in SHEETS}
for name, _ in SHEETS:
    open(f"{out}/{name}.fods", "w").write(HEAD + tables[name] + TAIL)
open(f"{out}/exports.fods", "w").write(HEAD + "\n".join(tables[n] for n, _ in SHEETS) + TAIL)
