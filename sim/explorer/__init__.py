"""The explorer: ``brainsim explore``, the policy explorer in the browser.

:mod:`~sim.explorer.state` turns a page's state into a scenario file (checked
by the scenario loader, like any other); :mod:`~sim.explorer.session` holds
the model, its baseline over the ensemble and the cached stems, and answers
the page's questions as plain data; :mod:`~sim.explorer.server` is the
FastAPI app over it; ``static/`` is the page. It may import the reports, the
studies and the engine; only the command line imports it.
"""
