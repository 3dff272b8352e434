"""DNS-01 providers: publish and remove one TXT value in a zone, through one Protocol.

Providers are pure: they know nothing of ACME, the database or the process that calls them.
The issuer presents and cleans up; the API's self-test uses the same providers.
"""
