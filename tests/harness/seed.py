"""Certificates written as rows, for tests and benchmarks of the renewer at scale: one ACME
account; per certificate its lineage and the request that issued it. The first ``due``
certificates' renewal time has come; the rest are planned over the next 60 days."""

from __future__ import annotations

ACCOUNT = "00000000-0000-4000-8000-000000000001"


def certificates_sql(total: int, due: int) -> str:
    """SQL (Postgres) that seeds ``total`` active, auto-renewing certificates."""
    return f"""
INSERT INTO acme_accounts (id, directory_url, terms_of_service_agreed, status, account_url,
    key_sealed, created_at, updated_at)
VALUES ('{ACCOUNT}', 'https://ca.test/dir', true, 'valid', 'https://ca.test/acct/1',
    '\\x00'::bytea, now(), now());
INSERT INTO lineages (id, common_name, names, key_type, curve, challenge_type, validation,
    acme_account_id, auto_renew, created_at, updated_at)
SELECT md5('l' || i)::uuid, 'n' || i || '.example.test',
    json_build_array('n' || i || '.example.test'), 'ec', 'p-256', 'http-01', 'automatic',
    '{ACCOUNT}', true, now(), now()
FROM generate_series(1, {total}) AS i;
INSERT INTO certificate_requests (id, lineage_id, common_name, names, key_type, curve,
    challenge_type, validation, acme_account_id, auto_renew, status, version, attempts,
    polls, orders_placed, certificate_id, created_at, updated_at)
SELECT md5('r' || i)::uuid, md5('l' || i)::uuid, 'n' || i || '.example.test',
    json_build_array('n' || i || '.example.test'), 'ec', 'p-256', 'http-01', 'automatic',
    '{ACCOUNT}', true, 'issued', 1, 0, 0, 1, md5('c' || i)::uuid, now(), now()
FROM generate_series(1, {total}) AS i;
INSERT INTO certificates (id, request_id, lineage_id, acme_account_id, common_name, names,
    serial, not_before, not_after, issuer, fingerprint_sha256, key_type, chain_pem,
    alternate_chains_pem, private_key_sealed, status, auto_renew, renewal_at,
    renewal_source, renewal_attempts, created_at, updated_at)
SELECT md5('c' || i)::uuid, md5('r' || i)::uuid, md5('l' || i)::uuid, '{ACCOUNT}',
    'n' || i || '.example.test', json_build_array('n' || i || '.example.test'), to_hex(i),
    now() - interval '60 days', now() + interval '30 days', 'CN=Test CA',
    md5('f' || i) || md5('g' || i), 'ec', '-', '[]'::json, '\\x00'::bytea, 'active', true,
    CASE WHEN i <= {due} THEN now() - interval '1 minute'
         ELSE now() + (i % 60 + 1) * interval '1 day' END,
    'lifetime', 0, now(), now()
FROM generate_series(1, {total}) AS i;
INSERT INTO certificate_names (certificate_id, name)
SELECT md5('c' || i)::uuid, 'n' || i || '.example.test' FROM generate_series(1, {total}) AS i;
ANALYZE;
"""
