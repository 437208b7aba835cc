"""Case handling, the prosecutor's office's side of an appeal: the card (cards), what the office and the resident do
with a case, the lists and the morning (handling), what the resident is told (notices), working days and legal
deadlines (deadlines). Nothing here is imported by bot.services.outbox or bot.services.notices, so no import cycle
runs through it."""
