"""Following a failure into the services the alerted one calls (issue 17, part 3)."""
