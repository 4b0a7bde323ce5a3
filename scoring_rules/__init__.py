"""The shipped rulesets (samples to review), installed beside ``service`` as package data
so an installed copy finds them: the default JIFEN_RULES_DIR, and what ``jifen init``
copies into an instance. The files, not this module, are the content."""
