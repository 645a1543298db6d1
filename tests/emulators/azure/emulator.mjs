// emulator.mjs — an Azure OpenAI emulator: Azure's URLs, keys and Entra ID
// tokens in front of the OpenAI emulator.
//
// Azure OpenAI speaks the OpenAI wire format at other URLs with other
// credentials, so this file only does what differs and hands each request
// on to the OpenAI emulator's own request handler (answers, streams and
// faults are that emulator's, unchanged):
//
//   POST /openai/deployments/{deployment}/chat/completions?api-version=V
//   POST /openai/deployments/{deployment}/embeddings?api-version=V
//   POST /openai/v1/chat/completions, /openai/v1/embeddings   (model in the body)
//   POST /openai/v1/responses   the Responses API, on the v1 surface only
//   POST /{tenant}/oauth2/v2.0/token        Entra ID client credentials
//   GET  /metadata/identity/oauth2/token    managed identity (IMDS), Metadata: true
//
// Data-plane requests need `api-key: <key>` or `Authorization: Bearer <token>`
// with a token this emulator issued (401 in Azure's shape otherwise); the
// deployments style needs api-version (404 "Resource not found" without, as
// Azure answers).  Azure's content filter is a fault of its own: a
// "[[azure:content_filter]]" directive in the last user message, or
// setAzureFault('content_filter'), answers 400 with code "content_filter";
// "[[azure:content_filter_finish]]" answers 200 with finish_reason
// "content_filter" and no content.  As Azure does, api-versions before
// 2024-09-01 refuse stream_options.

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

import { createEmulator as createOpenAIEmulator } from '../openai/emulator.mjs';

const MAX_BODY = 32 * 1024 * 1024;

const ACCESS_DENIED_KEY =
  'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.';
const ACCESS_DENIED_TOKEN =
  'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.';

function newAzureStats() {
  return { token_requests: 0, token_failures: 0, imds_requests: 0, connections: 0, requests: [], assertions: [] };
}

async function readBody(req) {
  const parts = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('body too large');
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

function sendJSON(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function lastUserText(body) {
  const msgs = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    if (msgs[i]?.role !== 'user') continue;
    const c = msgs[i].content;
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return c.map((p) => (typeof p?.text === 'string' ? p.text : '')).join(' ');
    return '';
  }
  return '';
}

function contentFilterError() {
  return {
    error: {
      message:
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
      type: null,
      param: 'prompt',
      code: 'content_filter',
      status: 400,
      innererror: {
        code: 'ResponsibleAIPolicyViolation',
        content_filter_result: {
          hate: { filtered: true, severity: 'high' },
          self_harm: { filtered: false, severity: 'safe' },
          sexual: { filtered: false, severity: 'safe' },
          violence: { filtered: false, severity: 'safe' },
        },
      },
    },
  };
}

function filteredCompletion(model) {
  return {
    id: `chatcmpl-${randomBytes(12).toString('hex')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        finish_reason: 'content_filter',
        message: { role: 'assistant', content: null },
        content_filter_results: { hate: { filtered: true, severity: 'high' } },
      },
    ],
    usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 },
  };
}

// tokens: { tenant?, clients?: {clientId: secret}, managedIdentity?: true |
//   {clientId?}, federated?: {clientId: {issuer, subject, audience?}},
//   expiresIn?: seconds (default 3599) }
export function createAzureEmulator({ key = null, tokens = null } = {}) {
  const inner = createOpenAIEmulator({ key: null });
  const innerHandle = inner.server.listeners('request')[0];
  const issued = new Map(); // token → expiry (ms since epoch)
  let azStats = newAzureStats();
  let azureFaults = []; // {fault:'content_filter', count?}
  let tokenFault = null; // {status, error, error_description, count?}

  const tokenLife = () => Number(tokens?.expiresIn ?? 3599);

  function issue() {
    const t = `eyJ0eXAiOiJKV1Qi.${randomBytes(24).toString('base64url')}.emu`;
    issued.set(t, Date.now() + tokenLife() * 1000);
    return t;
  }

  function takeTokenFault() {
    const f = tokenFault;
    if (f && typeof f.count === 'number' && --f.count <= 0) tokenFault = null;
    return f;
  }

  // A federated credential (workload identity): the client assertion is a
  // JWT from the cluster's issuer whose iss, sub and aud must match the
  // credential and which must not have expired.  The signature is not
  // checked (the emulator has no issuer keys).  Returns null when accepted.
  function checkAssertion(form, cred) {
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      return { status: 400, description: "AADSTS700023: Client assertion type 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' is required." };
    const parts = String(form.get('client_assertion') || '').split('.');
    let claims = null;
    try {
      if (parts.length === 3) claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      claims = null;
    }
    if (!claims || typeof claims !== 'object') return { status: 400, description: 'AADSTS50027: JWT token is invalid or malformed.' };
    azStats.assertions.push({ iss: claims.iss, sub: claims.sub, aud: claims.aud, exp: claims.exp, jti: claims.jti });
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== cred.issuer || claims.sub !== cred.subject || !aud.includes(cred.audience ?? 'api://AzureADTokenExchange'))
      return { status: 401, description: `AADSTS700213: No matching federated identity record found for presented assertion subject '${claims.sub}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.` };
    if (!(Number(claims.exp) * 1000 > Date.now()))
      return { status: 400, description: 'AADSTS700024: Client assertion is not within its valid time range.' };
    return null;
  }

  // Entra ID v2.0 token endpoint, client-credentials grant (client secret
  // or a federated client assertion).
  async function tokenEndpoint(req, res, tenant) {
    azStats.token_requests++;
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    const fail = (status, error, description) => {
      azStats.token_failures++;
      sendJSON(res, status, { error, error_description: description, error_codes: [7000215], timestamp: new Date().toISOString() });
    };
    const f = takeTokenFault();
    if (f) return fail(f.status ?? 500, f.error ?? 'temporarily_unavailable', f.error_description ?? 'AADSTS50000: emulated token endpoint failure.');
    if (!String(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded'))
      return fail(400, 'invalid_request', 'AADSTS900144: The request body must contain the following parameter: grant_type.');
    if (form.get('grant_type') !== 'client_credentials')
      return fail(400, 'unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.');
    if (tokens?.tenant && tenant !== tokens.tenant) return fail(400, 'invalid_request', `AADSTS90002: Tenant '${tenant}' not found.`);
    const id = form.get('client_id');
    const clients = tokens?.clients ?? {};
    const federated = tokens?.federated ?? {};
    if (form.has('client_assertion') || form.has('client_assertion_type')) {
      if (!id || !(id in federated)) return fail(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${id}' was not found in the directory.`);
      const refused = checkAssertion(form, federated[id]);
      if (refused) return fail(refused.status, 'invalid_client', refused.description);
    } else if (!id || !(id in clients)) {
      return fail(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${id}' was not found in the directory.`);
    } else if (form.get('client_secret') !== clients[id])
      return fail(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
    if (!form.get('scope')) return fail(400, 'invalid_scope', 'AADSTS1002012: The provided value for scope is not valid.');
    sendJSON(res, 200, { token_type: 'Bearer', expires_in: tokenLife(), ext_expires_in: tokenLife(), access_token: issue() });
  }

  // Instance metadata service: GET with Metadata: true and a resource.
  function imdsEndpoint(req, res, url) {
    azStats.imds_requests++;
    const mi = tokens?.managedIdentity;
    if (req.method !== 'GET') return sendJSON(res, 405, { error: 'invalid_request', error_description: 'Method not allowed' });
    if (String(req.headers.metadata).toLowerCase() !== 'true')
      return sendJSON(res, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' });
    if (!url.searchParams.get('api-version'))
      return sendJSON(res, 400, { error: 'invalid_request', error_description: 'Required query variable api-version is missing' });
    const resource = url.searchParams.get('resource');
    if (!resource) return sendJSON(res, 400, { error: 'invalid_request', error_description: 'Required query variable resource is missing' });
    if (!mi) return sendJSON(res, 400, { error: 'invalid_request', error_description: 'Identity not found' });
    const wantId = typeof mi === 'object' ? mi.clientId : null;
    const cid = url.searchParams.get('client_id');
    if ((wantId || cid) && cid !== wantId) return sendJSON(res, 400, { error: 'invalid_request', error_description: 'Identity not found' });
    const f = takeTokenFault();
    if (f) return sendJSON(res, f.status ?? 500, { error: f.error ?? 'unknown_error', error_description: f.error_description ?? 'emulated IMDS failure' });
    const now = Math.floor(Date.now() / 1000);
    sendJSON(res, 200, {
      access_token: issue(),
      client_id: cid || '00000000-0000-0000-0000-000000000000',
      expires_in: String(tokenLife()),
      expires_on: String(now + tokenLife()),
      ext_expires_in: String(tokenLife()),
      not_before: String(now),
      resource,
      token_type: 'Bearer',
    });
  }

  // 'key', 'bearer' or null (denied: the response is sent).
  function checkAuth(req, res) {
    if (!key && !tokens) return 'none';
    const k = req.headers['api-key'];
    if (k !== undefined) {
      if (key && k === key) return 'key';
      sendJSON(res, 401, { error: { code: '401', message: ACCESS_DENIED_KEY } });
      return null;
    }
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '');
    if (m && (issued.get(m[1]) ?? 0) > Date.now()) return 'bearer';
    sendJSON(res, 401, { error: { code: m ? 'PermissionDenied' : '401', message: m ? ACCESS_DENIED_TOKEN : ACCESS_DENIED_KEY } });
    return null;
  }

  function pickAzureFault(text) {
    const d = /\[\[azure:([a-z_]+)\]\]/.exec(text);
    if (d) return d[1];
    const f = azureFaults[0];
    if (!f) return null;
    if (typeof f.count === 'number' && --f.count <= 0) azureFaults.shift();
    return f.fault;
  }

  async function dataPlane(req, res, url, m) {
    const [, deployment, v1, op] = m;
    const rec = {
      path: url.pathname,
      style: deployment ? 'deployments' : 'v1',
      deployment: deployment ? decodeURIComponent(deployment) : null,
      api_version: url.searchParams.get('api-version'),
      client_request_id: req.headers['x-ms-client-request-id'] || null, // Azure's caller-supplied id
      auth: null,
      body_model: null,
      status: null,
    };
    azStats.requests.push(rec);
    if (azStats.requests.length > 500) azStats.requests.shift();
    const raw = await readBody(req);
    const auth = checkAuth(req, res);
    if (!auth) return (rec.status = 401);
    rec.auth = auth;
    if (deployment && op === 'responses') {
      // Azure serves the Responses API on the v1 surface, not per deployment.
      rec.status = 404;
      return sendJSON(res, 404, { error: { code: '404', message: 'Resource not found' } });
    }
    if (deployment && !rec.api_version) {
      rec.status = 404;
      return sendJSON(res, 404, { error: { code: '404', message: 'Resource not found' } });
    }
    if (req.method !== 'POST' && !(v1 && op === 'models')) {
      rec.status = 405;
      return sendJSON(res, 405, { error: { code: '405', message: 'Method not allowed' } });
    }
    let body = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = null;
    }
    rec.body_model = body?.model ?? null;
    if (deployment && body?.stream_options !== undefined && rec.api_version < '2024-09-01') {
      // stream_options arrived with 2024-09-01-preview; older versions refuse it.
      rec.status = 400;
      return sendJSON(res, 400, { error: { message: 'Unrecognized request argument supplied: stream_options', type: 'invalid_request_error', param: null, code: null } });
    }
    let forward = raw;
    if (deployment && body && typeof body === 'object') {
      // Azure serves the deployment named in the URL, whatever the body says.
      forward = Buffer.from(JSON.stringify({ ...body, model: rec.deployment }));
    }
    if (op === 'chat/completions' && body) {
      const fault = pickAzureFault(lastUserText(body));
      if (fault === 'content_filter') {
        rec.status = 400;
        return sendJSON(res, 400, contentFilterError());
      }
      if (fault === 'content_filter_finish' && !body.stream) {
        rec.status = 200;
        return sendJSON(res, 200, filteredCompletion(rec.deployment ?? body.model));
      }
    }
    rec.status = 'forwarded';
    // The OpenAI emulator reads the request as a stream: give it the
    // (possibly rewritten) body with the original socket and headers.
    const fake = Readable.from([forward]);
    fake.method = req.method;
    fake.url = `/v1/${op}`;
    fake.headers = { ...req.headers, 'content-length': String(forward.length) };
    delete fake.headers.authorization;
    delete fake.headers['api-key'];
    fake.socket = req.socket;
    innerHandle(fake, res);
  }

  const DATA = /^\/openai\/(?:deployments\/([^/]+)|(v1))\/(chat\/completions|embeddings|models|responses)$/;
  const TOKEN = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;

  async function handle(req, res) {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/_emulator/')) return innerHandle(req, res);
    if (url.pathname === '/metadata/identity/oauth2/token') return imdsEndpoint(req, res, url);
    const t = TOKEN.exec(url.pathname);
    if (t && req.method === 'POST') return tokenEndpoint(req, res, decodeURIComponent(t[1]));
    const m = DATA.exec(url.pathname);
    if (m) return dataPlane(req, res, url, m);
    await readBody(req).catch(() => null);
    sendJSON(res, 404, { error: { code: '404', message: 'Resource not found' } });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) sendJSON(res, 500, { error: { code: 'InternalServerError', message: `emulator bug: ${e.stack}` } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30000;
  server.on('connection', () => azStats.connections++);

  return {
    server,
    stats: () => ({ ...inner.stats(), azure: structuredClone(azStats) }),
    resetStats: () => {
      inner.resetStats();
      azStats = newAzureStats();
    },
    setFault: inner.setFault,
    clearFaults: () => {
      inner.clearFaults();
      azureFaults = [];
      tokenFault = null;
    },
    setAzureFault: (fault, { count } = {}) => azureFaults.push({ fault, count }),
    setTokenFault: (f) => {
      tokenFault = f ? { ...f } : null;
    },
    revokeTokens: () => issued.clear(),
  };
}

// Starts the emulator on host:port (0: a free one).
export async function startEmulator({ key = null, tokens = null, port = 0, host = '127.0.0.1' } = {}) {
  const emu = createAzureEmulator({ key, tokens });
  await new Promise((resolve, reject) => {
    emu.server.once('error', reject);
    emu.server.listen(port, host, resolve);
  });
  const actual = emu.server.address().port;
  const url = `http://${host}:${actual}`;
  const { server, ...api } = emu;
  return {
    ...api,
    port: actual,
    url,
    endpoint: url, // what AzureOpenAI's `endpoint` and cloudmux's `endpoint` take
    authority: url, // for auth.authority: {authority}/{tenant}/oauth2/v2.0/token
    imdsEndpoint: `${url}/metadata/identity/oauth2/token`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
