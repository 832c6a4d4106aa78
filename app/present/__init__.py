"""Reports for people: the HTML page with its charts, the Excel workbook, and the headline
figures that both show and notifications repeat. Everything here reads one ``ReportView``
(the CSV's rows plus rollups of the same running sums), so no format computes its own numbers."""
