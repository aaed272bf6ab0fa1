"""The reports: what a study's results become on disk and on paper.

:mod:`~sim.reports.results` writes scenario results (netCDF, CSV, target
tables, manifest); :mod:`~sim.reports.sweepout` writes sweeps and goal
searches; :mod:`~sim.reports.calibration` and :mod:`~sim.reports.fitreport`
the calibration and its fit report; :mod:`~sim.reports.briefdata` computes
what the briefing shows, :mod:`~sim.reports.figures` draws it,
:mod:`~sim.reports.briefing` assembles the PDF packs, all in the words of
:mod:`~sim.reports.labels`; :mod:`~sim.reports.docs` and
:mod:`~sim.reports.diagram` document the model, and
:mod:`~sim.reports.catalogue` lists what a scenario can name.

Imports: the studies, the engine and other reports. Never :mod:`sim.cli`.
"""
