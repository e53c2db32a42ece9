"""Reports for managers: the totals and speed reports, the periodic reports and their files.

The figures are kept by PostgreSQL, not computed here: the triggers of migration funds 0005
(funds/migrations/0005_report_triggers.py) record what every change of a case, victim,
instruction or flag adds to them. This package reads and lays out what they keep.

* ``figures``: what each figure counts and which trigger keeps it; the Figures value;
* ``periods``: days, weeks and months; the period a periodic report covers;
* ``totals``: the totals report, read from the folded totals and the changes not folded;
* ``speed``: the speed report (the league table), read from the speed samples;
* ``folding``: folding the triggers' changes into the kept totals, and rebuilding them;
* ``periodic``: the daily, weekly and monthly reports, generated once and mailed once;
* ``export``: a periodic report as a table with Chinese headers, CSV and XLSX;
* ``api``: the report endpoints under /api/v1/reports/ and their query serializers;
* ``checks``: the system check that TIME_ZONE is the zone the triggers count days in.
"""
