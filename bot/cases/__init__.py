"""Case handling, the prosecutor's office's side of an appeal: the card (cards), what the office does with a case
(actions), what it reads (lists: /cases, /case, history), the morning's messages and the calendar (morning), what
the resident does (resident) and is told (notices), answer templates (templates), working days and legal deadlines
(deadlines). Nothing here is imported by bot.services.outbox or bot.services.notices, so no import cycle runs
through it."""
