"""The studies run on a compiled model: what a policy analyst asks of it.

:mod:`~sim.studies.history` measures the model as the data were measured
(1 May stocks, fiscal-year flows); :mod:`~sim.studies.calibrate` fits it and
draws the constrained ensemble; :mod:`~sim.studies.scenario` reads scenario
files and :mod:`~sim.studies.targets` holds the J-MIRAI targets;
:mod:`~sim.studies.runner` runs scenarios over the ensemble, sharing the
common past of scenarios through :mod:`~sim.studies.stem`;
:mod:`~sim.studies.sweep` runs sensitivity designs and
:mod:`~sim.studies.goal` searches for the lever level a goal needs.

Imports: the engine and other studies. Never :mod:`sim.reports` or
:mod:`sim.cli`: a study returns data, and writing it is a report's job.
"""
