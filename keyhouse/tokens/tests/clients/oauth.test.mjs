// openid-client, a generic OAuth client, against a live Keyhouse: discovery by either
// metadata path, a refresh_token grant, revocation, and OAuth errors it understands.
// Run by keyhouse/tokens/tests/test_client_contracts.py, which starts the server and
// passes KEYHOUSE_ISSUER, KEYHOUSE_CLIENT_ID and a fresh KEYHOUSE_REFRESH_TOKEN.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as client from "openid-client";

const issuer = new URL(process.env.KEYHOUSE_ISSUER);
const clientId = process.env.KEYHOUSE_CLIENT_ID;

function discover(algorithm) {
  // Plain HTTP is the loopback test server's; production issuers are https.
  return client.discovery(issuer, clientId, undefined, client.None(), {
    algorithm,
    execute: [client.allowInsecureRequests],
  });
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

for (const algorithm of ["oauth2", "oidc"]) {
  test(`discovery (${algorithm}) finds the token and revocation endpoints`, async () => {
    const metadata = (await discover(algorithm)).serverMetadata();
    assert.equal(metadata.issuer, process.env.KEYHOUSE_ISSUER);
    assert.equal(metadata.token_endpoint, `${metadata.issuer}/api/v1/auth/token/refresh`);
    assert.equal(metadata.revocation_endpoint, `${metadata.issuer}/api/v1/auth/token/revoke`);
    assert.deepEqual(metadata.grant_types_supported, ["authorization_code", "refresh_token"]);
    assert.deepEqual(metadata.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(metadata.token_endpoint_auth_methods_supported, ["none"]);
    assert.equal(metadata.authorization_endpoint, undefined);
  });
}

test("refresh, revoke, and the revoked token is an invalid_grant", async () => {
  const config = await discover("oauth2");
  const first = await client.refreshTokenGrant(config, process.env.KEYHOUSE_REFRESH_TOKEN);
  assert.equal(first.token_type, "bearer"); // openid-client lower-cases the type
  assert.ok(first.expiresIn() > 0);
  const accessClaims = claims(first.access_token);
  assert.equal(accessClaims.iss, process.env.KEYHOUSE_ISSUER);
  assert.equal(accessClaims.client_id, clientId);

  const second = await client.refreshTokenGrant(config, first.refresh_token);
  assert.notEqual(second.refresh_token, first.refresh_token);

  await client.tokenRevocation(config, second.refresh_token);
  await client.tokenRevocation(config, "a token Keyhouse never issued");
  await assert.rejects(client.refreshTokenGrant(config, second.refresh_token), (error) => {
    assert.ok(error instanceof client.ResponseBodyError);
    assert.equal(error.status, 400);
    assert.equal(error.error, "invalid_grant");
    return true;
  });
});
