//! End-to-end and integration tests live in `tests/api/`: one test binary,
//! run by `make test` against a fresh moto server.
