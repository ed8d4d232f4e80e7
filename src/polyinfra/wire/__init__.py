"""msgspec schemas that mirror the venue's wire shapes exactly, strings kept as sent."""
