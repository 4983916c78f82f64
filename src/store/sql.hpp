#pragma once
// SQL fragments shared by the stores (private to src/store).

// A timestamptz column as the contract's UTC text, 2026-01-01T00:00:00Z (null stays null).
#define KARGO_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
