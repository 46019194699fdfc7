"""The two workflows (lld.py: a design for an issue; issue.py: an issue from a brief), the rounds they share
(rounds.py), what each is handed (base.py), and their names (registry.py)."""
