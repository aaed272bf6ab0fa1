"""Write external_data.xlsx and external_data.csv, the files external_data.mdl reads.

Run from this folder: ``python make_external_data.py``. The numbers are made up
for the test (they are not data about anything).
"""

import csv

import openpyxl

book = openpyxl.Workbook()
sheet = book.active
sheet.title = "inputs"
# a time series down column A (times) and B (values), from row 2
sheet["A1"], sheet["B1"] = "year", "arrivals"
for i, (year, value) in enumerate([(0, 10), (2, 14), (5, 11), (8, 20), (10, 18)], start=2):
    sheet.cell(row=i, column=1, value=year)
    sheet.cell(row=i, column=2, value=value)
# constants: one in D2, a row of three in D4:F4, a column of three in H2:H4, a 2 x 3 block
sheet["D2"] = 2.5
for j, v in enumerate([1.0, 2.0, 3.0]):
    sheet.cell(row=4, column=4 + j, value=v)
for i, v in enumerate([0.5, 0.25, 0.125]):
    sheet.cell(row=2 + i, column=8, value=v)
for i, row in enumerate([[1, 2, 3], [4, 5, 6]]):
    for j, v in enumerate(row):
        sheet.cell(row=7 + i, column=4 + j, value=v)
lookups = book.create_sheet("lookups")
# a lookup across row 1 (x) and row 2 (y), from B
for j, (x, y) in enumerate([(0, 1.0), (1, 1.5), (2, 1.8), (4, 2.0)]):
    lookups.cell(row=1, column=2 + j, value=x)
    lookups.cell(row=2, column=2 + j, value=y)
regional = book.create_sheet("regional")
# a data variable per region: times down column A, one column per region from B
for i, (year, *values) in enumerate([(0, 5, 8, 2), (4, 7, 6, 3), (10, 12, 4, 9)], start=2):
    for j, v in enumerate([year, *values]):
        regional.cell(row=i, column=1 + j, value=v)
regional_lookups = book.create_sheet("regional lookups")
# a lookup per region: x values across row 1, one row per region from row 2
for j, (x, *ys) in enumerate([(0, 1.0, 0.5, 2.0), (1, 2.0, 1.5, 1.0), (3, 2.5, 3.0, 0.5)]):
    for i, v in enumerate([x, *ys]):
        regional_lookups.cell(row=1 + i, column=2 + j, value=v)
book.save("external_data.xlsx")

with open("external_data.csv", "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["time", "price", "", "rate"])
    for t, p in [(0, 100), (3, 120), (6, 90), (12, 150)]:
        w.writerow([t, p, "", 0.04 if t == 0 else ""])
