// A real OpenID provider (panva/oidc-provider 9) on loopback, for butterfly-oidc's
// integration tests. Not for production: it logs in anyone who posts the test user's
// email and keeps everything in memory.
//
//   node provider.mjs --port 0 \
//     --redirect-uri http://127.0.0.1:4000/callback \
//     --backchannel-logout-uri http://127.0.0.1:4000/logout/backchannel \
//     [--post-logout-redirect-uri http://127.0.0.1:4000/signed-out] \
//     [--client-id butterfly-test] [--client-secret ...] [--auth-method client_secret_basic]
//
// Every option can also come from the environment (OIDC_PORT, OIDC_REDIRECT_URI,
// OIDC_BACKCHANNEL_LOGOUT_URI, OIDC_POST_LOGOUT_REDIRECT_URI, OIDC_CLIENT_ID,
// OIDC_CLIENT_SECRET, OIDC_AUTH_METHOD). Port 0 picks a free port. When listening, the
// provider prints one line `issuer=http://127.0.0.1:PORT` on stdout, which callers wait
// for; everything else goes to stderr.
//
// The login interaction is plain HTTP so that a test can drive it without a browser:
//   GET  /interaction/:uid          -> JSON {"uid", "prompt"}: "login" or "consent"
//   POST /interaction/:uid/login    form email=jane@example.com&password=...  -> 303 back
//   POST /interaction/:uid/confirm  (no body)                                 -> 303 back
// Logout is oidc-provider's own RP-initiated logout (/session/end); its confirmation page
// is reduced to the bare form so a test can read the xsrf field.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'redirect-uri': { type: 'string' },
    'backchannel-logout-uri': { type: 'string' },
    'post-logout-redirect-uri': { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'auth-method': { type: 'string' },
  },
});

const opt = (name, env, fallback) => args[name] ?? process.env[env] ?? fallback;
const port = Number(opt('port', 'OIDC_PORT', '0'));
const redirectUri = opt('redirect-uri', 'OIDC_REDIRECT_URI', 'http://127.0.0.1:8080/callback');
const backchannelLogoutUri = opt('backchannel-logout-uri', 'OIDC_BACKCHANNEL_LOGOUT_URI', undefined);
const postLogoutRedirectUri = opt('post-logout-redirect-uri', 'OIDC_POST_LOGOUT_REDIRECT_URI', undefined);
const clientId = opt('client-id', 'OIDC_CLIENT_ID', 'butterfly-test');
const clientSecret = opt('client-secret', 'OIDC_CLIENT_SECRET', 'butterfly-test-secret-0123456789abcdef');
const authMethod = opt('auth-method', 'OIDC_AUTH_METHOD', 'client_secret_basic');

// The one account. Its id is stable so tests can assert `sub`.
const ACCOUNTS = new Map([
  ['jane@example.com', { accountId: 'user-jane', email: 'jane@example.com', email_verified: true, password: 'correct horse battery staple' }],
]);
const accountsById = new Map([...ACCOUNTS.values()].map((a) => [a.accountId, a]));

// RS256 signing key, fresh per run: tests discover it through the JWKS like an RP must.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: `test-${randomBytes(4).toString('hex')}` };

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

// The issuer must be known before the provider is built, so bind first, then attach.
let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handler(req, res));
const boundPort = await listen(server);
const issuer = `http://127.0.0.1:${boundPort}`;

const client = {
  client_id: clientId,
  client_secret: clientSecret,
  redirect_uris: [redirectUri],
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: authMethod,
  id_token_signed_response_alg: 'RS256',
};
if (backchannelLogoutUri) {
  client.backchannel_logout_uri = backchannelLogoutUri;
  client.backchannel_logout_session_required = true;
}
if (postLogoutRedirectUri) {
  client.post_logout_redirect_uris = [postLogoutRedirectUri];
}

const provider = new Provider(issuer, {
  clients: [client],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Every authorization request must carry an S256 PKCE challenge.
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
  },
  // Put scope-requested claims (email) in the ID token of the code flow too, as Okta and
  // most IdPs do, so the RP gets them without a userinfo call.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // Only the form (with its hidden xsrf field), no page around it.
      async logoutSource(ctx, form) {
        ctx.type = 'html';
        ctx.body = form;
      },
    },
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async findAccount(_ctx, id) {
    const account = accountsById.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: account.email_verified };
      },
    };
  },
  // oidc-provider refuses outgoing requests to special-use addresses (its SSRF guard is
  // an undici dispatcher it passes in `options.dispatcher`). The test RP's back-channel
  // logout endpoint is on 127.0.0.1, so drop that dispatcher here, and only here.
  fetch(url, { dispatcher: _ssrfGuard, ...options }) {
    return globalThis.fetch(url, options);
  },
});
// Plain http on loopback: trust no proxy headers, there is no proxy.
provider.proxy = false;

provider.on('backchannel.error', (_ctx, err) => {
  console.error(`backchannel logout failed: ${err.message}`);
});
provider.on('server_error', (_ctx, err) => {
  console.error(`server error: ${err.stack ?? err}`);
});

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function json(res, status, body) {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify(body));
}

// The interaction endpoints, modelled on oidc-provider's own example.
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return json(res, 400, { error: 'interaction uid does not match the interaction cookie' });
  }
  const { prompt, params, session } = details;

  if (req.method === 'GET' && !action) {
    return json(res, 200, { uid, prompt: prompt.name, client_id: params.client_id, login_hint: params.login_hint ?? null });
  }
  if (req.method !== 'POST') return json(res, 405, { error: 'method not allowed' });

  if (action === 'login') {
    if (prompt.name !== 'login') return json(res, 400, { error: `prompt is ${prompt.name}, not login` });
    const form = await readForm(req);
    const account = ACCOUNTS.get((form.get('email') ?? '').toLowerCase());
    if (!account || form.get('password') !== account.password) {
      return json(res, 401, { error: 'invalid email or password' });
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.accountId } }, { mergeWithLastSubmission: false });
  }

  if (action === 'confirm') {
    if (prompt.name !== 'consent') return json(res, 400, { error: `prompt is ${prompt.name}, not consent` });
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    if (missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }

  return json(res, 404, { error: 'unknown interaction action' });
}

const providerCallback = provider.callback();
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?$/;

handler = async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  const match = INTERACTION.exec(path);
  if (!match) return providerCallback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (err) {
    console.error(`interaction failed: ${err.stack ?? err}`);
    if (!res.headersSent) json(res, 400, { error: err.message });
  }
};

const shutdown = () => server.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

console.log(`issuer=${issuer}`);
