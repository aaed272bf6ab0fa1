"""brainsim explore: the policy explorer in the browser (state, session, web app, page)."""
