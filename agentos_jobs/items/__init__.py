"""What there is to do: discovery of issues and briefs, their ids and front matter, completion markers, and which
output files this tool wrote."""
