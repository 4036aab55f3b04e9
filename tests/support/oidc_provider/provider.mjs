// An OpenID Connect provider on loopback for the single sign-on tests.
//
// Configuration comes from the environment:
//   OIDC_PORT            port to listen on (127.0.0.1 only)
//   OIDC_CLIENTS         JSON list of {client_id, client_secret, redirect_uris}
// The built-in development interactions are used for login and consent: the login form
// takes the account id ("alice", "bob", "mallory") and any password.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || '0');
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]').map((c) => ({
  ...c,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

// mallory's address belongs to someone else on the platform, and the provider does not
// vouch for it: the relying party must never link on it.
const accounts = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example' },
  bob: { email: 'bob@example.com', email_verified: true, name: 'Bob Example' },
  mallory: { email: 'victim@example.com', email_verified: false, name: 'Mallory' },
};

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => false },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: true } },
  // Claims go into the ID token too, as most enterprise providers do.
  conformIdTokenClaims: false,
  cookies: { keys: ['plateaux-test-cookie-key'] },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  process.stdout.write(`READY http://127.0.0.1:${actual}\n`);
});
