"""Pure decisions on frozen data. No I/O, no clock, no environment: callers pass them in."""
