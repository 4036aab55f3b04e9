// An OpenID Connect identity provider on loopback, for the single sign-on tests.
//
// Usage: node provider.mjs [PORT]   (or OIDC_PORT; 0 or nothing lets the system pick one)
//
// The one registered client comes from the environment:
//   OIDC_CLIENT_ID                    its client_id
//   OIDC_CLIENT_SECRET                its client_secret
//   OIDC_REDIRECT_URIS                JSON list of its redirect URIs
//   OIDC_TOKEN_ENDPOINT_AUTH_METHOD   optional, client_secret_basic by default
//
// Once listening it prints `READY http://127.0.0.1:<port>` (the issuer) on stdout.
// Sign-in is a plain HTML form (fields `login` and `password`; every account's password is
// `secret`); consent is granted automatically, since the only client is the relying party
// under test. The process exits when its standard input closes, so a test run that dies
// without cleaning up does not leave it behind.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const PASSWORD = 'secret';

// mallory's address belongs to another user of the platform and the provider does not
// vouch for it (email_verified false): a relying party must never link accounts on it.
const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Example' },
  bob: { email: 'bob@example.com', email_verified: true, name: 'Bob Example' },
  mallory: { email: 'victim@example.com', email_verified: false, name: 'Mallory Example' },
};

function fail(message) {
  process.stderr.write(`oidc test provider: ${message}\n`);
  process.exit(2);
}

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is required`);
  return value;
}

function readClient() {
  let redirectUris;
  try {
    redirectUris = JSON.parse(requiredEnv('OIDC_REDIRECT_URIS'));
  } catch (error) {
    fail(`OIDC_REDIRECT_URIS is not JSON: ${error.message}`);
  }
  if (!Array.isArray(redirectUris) || redirectUris.length === 0
      || !redirectUris.every((uri) => typeof uri === 'string')) {
    fail('OIDC_REDIRECT_URIS must be a non-empty JSON list of strings');
  }
  return {
    client_id: requiredEnv('OIDC_CLIENT_ID'),
    client_secret: requiredEnv('OIDC_CLIENT_SECRET'),
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method:
      process.env.OIDC_TOKEN_ENDPOINT_AUTH_METHOD || 'client_secret_basic',
  };
}

// A fresh signing key per process: the library's built-in development key is public, and
// tests must prove that the relying party checks signatures against this provider's JWKS.
function signingKeys() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' }] };
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function loginPage({ uid, clientId, login = '', error }) {
  const notice = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in to continue to ${escapeHtml(clientId)}</h1>
${notice}
<form method="post" action="/interaction/${escapeHtml(uid)}" autocomplete="off">
  <label>Login <input type="text" name="login" value="${escapeHtml(login)}" required autofocus></label>
  <label>Password <input type="password" name="password" required></label>
  <button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}

async function readForm(req, limit = 16 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('form too large'), { status: 413 });
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Grants everything the authorization request is still missing, as a user who clicks
// "Allow" on every consent screen would.
async function grantConsent(provider, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  return { consent: { grantId: await grant.save() } };
}

function finish(ctx, location) {
  ctx.redirect(location);
  // 303 so that the browser follows a form POST with a GET.
  ctx.status = 303;
}

function interactionRoutes(provider) {
  const route = /^\/interaction\/([A-Za-z0-9_-]+)$/;
  return async function interactions(ctx, next) {
    const match = route.exec(ctx.path);
    if (!match || !['GET', 'POST'].includes(ctx.method)) return next();

    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    // The interaction cookie, not the URL, says which interaction this is: a mismatch
    // means a stale page from another sign-in.
    if (details.uid !== match[1]) ctx.throw(400, 'interaction mismatch');
    const clientId = details.params.client_id;

    if (details.prompt.name === 'consent') {
      finish(ctx, await provider.interactionResult(
        ctx.req, ctx.res, await grantConsent(provider, details), { mergeWithLastSubmission: true },
      ));
      return undefined;
    }
    if (details.prompt.name !== 'login') ctx.throw(501, `prompt ${details.prompt.name} is not supported`);

    if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = loginPage({ uid: details.uid, clientId });
      return undefined;
    }

    const form = await readForm(ctx.req);
    const login = form.get('login') || '';
    const password = form.get('password') || '';
    const known = Object.hasOwn(ACCOUNTS, login);
    const passwordOk = crypto.timingSafeEqual(
      crypto.hash('sha256', password, 'buffer'), crypto.hash('sha256', PASSWORD, 'buffer'),
    );
    if (!known || !passwordOk) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage({
        uid: details.uid, clientId, login, error: 'Invalid login or password.',
      });
      return undefined;
    }
    finish(ctx, await provider.interactionResult(
      ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false },
    ));
    return undefined;
  };
}

function requestedPort() {
  const raw = process.argv[2] ?? process.env.OIDC_PORT ?? '0';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${raw}`);
  return port;
}

const client = readClient();
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = http.createServer((req, res) => handler(req, res));

server.on('error', (error) => fail(`cannot listen: ${error.message}`));
// Listen before building the provider: the issuer contains the port, which is only known
// once the system has picked it (port 0), and binding first leaves no race for it.
server.listen(requestedPort(), HOST, () => {
  const issuer = `http://${HOST}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [client],
    jwks: signingKeys(),
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Put the scope's claims in the ID token as well as at userinfo, as most enterprise
    // providers do, so a relying party can work from either.
    conformIdTokenClaims: false,
    // The relying party under test uses PKCE (S256); allowing requests without it keeps the
    // provider usable for negative tests.
    pkce: { required: () => false },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, accountId) {
      if (!Object.hasOwn(ACCOUNTS, accountId)) return undefined;
      return {
        accountId,
        async claims() {
          return { sub: accountId, ...ACCOUNTS[accountId] };
        },
      };
    },
    // Errors go to stderr, which the test harness shows when something fails.
    renderError(ctx, out, error) {
      process.stderr.write(`provider error: ${error?.stack || JSON.stringify(out)}\n`);
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>Error</title><h1>${escapeHtml(out.error)}</h1>`
        + `<p>${escapeHtml(out.error_description || '')}</p>`;
    },
  });
  // Plain http on loopback, no reverse proxy: the provider must not trust forwarded headers.
  provider.proxy = false;
  provider.use(interactionRoutes(provider));
  provider.on('server_error', (_ctx, error) => {
    process.stderr.write(`provider server error: ${error.stack}\n`);
  });
  handler = provider.callback();
  process.stdout.write(`READY ${issuer}\n`);
});

// Exit with the parent: it holds our standard input open for as long as it wants us.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
