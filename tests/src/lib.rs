//! End-to-end and integration tests live in `tests/api/`: one test binary,
//! run by `make test` against a fresh moto server. The drift checks, which
//! need no AWS, are `tests/drift/`: `make check` runs them without moto.
