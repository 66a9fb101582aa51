// The Keyhouse example app: plain JavaScript, no build step.
//
// The access token lives in memory only, and goes out as a bearer header. The refresh
// token lives in an HttpOnly cookie that this script never sees: the browser stores it
// when Keyhouse signs us in, and sends it back to the refresh endpoint alone.

// Keyhouse's address: ?keyhouse=... or port 8000 of this page's own host. Keep the host
// the same (localhost with localhost): the cookie is sent only within one site.
const KEYHOUSE =
  new URLSearchParams(location.search).get("keyhouse") ??
  `${location.protocol}//${location.hostname}:8000`;

let accessToken = null;
let pendingEmail = null;

const $ = (id) => document.getElementById(id);

function show(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.error_description ?? `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code ?? problem?.error;
    this.problem = problem;
  }
}

// Call Keyhouse. credentials: "include" lets the browser store and send the refresh
// cookie across origins; errors arrive as Problem Details ({code, detail, ...}).
// A URLSearchParams body goes as a form, the way OAuth token requests are sent.
async function api(method, path, { body, headers = {} } = {}) {
  if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
  const form = body instanceof URLSearchParams;
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(KEYHOUSE + path, {
      method,
      headers,
      body: body === undefined || form ? body : JSON.stringify(body),
      credentials: "include",
    });
  } catch {
    // The browser hides why: Keyhouse is down, or this origin is not allowed (CORS).
    throw new ApiError(0, { detail: `Keyhouse at ${KEYHOUSE} could not be reached from this page.` });
  }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// The claims of an access token (read for display only: Keyhouse checks them).
function claims(token) {
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload));
}

// Tokens arrive from sign-in, verification and refresh alike.
function signedIn(tokens) {
  accessToken = tokens.access_token;
  $("profile-email").textContent = tokens.user.email;
  $("profile-aal").textContent = claims(accessToken).aal;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  return claims(accessToken);
}

function signedOut(message) {
  accessToken = null;
  $("sessions").replaceChildren();
  $("passkeys").replaceChildren();
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
  show(message);
}

// The refresh cookie is sent only with the X-Keyhouse-Client header, which a page of
// another site cannot add without Keyhouse's consent.
async function refresh() {
  signedIn(await api("POST", "/api/v1/auth/token/refresh", {
    body: {},
    headers: { "X-Keyhouse-Client": "example-spa" },
  }));
}

function handle(action) {
  return async (event) => {
    event?.preventDefault();
    try {
      await action();
    } catch (error) {
      show(error.message, true);
    }
  };
}

$("signup-form").addEventListener("submit", handle(async () => {
  pendingEmail = $("signup-email").value;
  const answer = await api("POST", "/api/v1/auth/signup", {
    body: { email: pendingEmail, password: $("signup-password").value },
  });
  $("signup-form").hidden = true;
  $("verify-form").hidden = false;
  show(answer.detail);
}));

$("verify-form").addEventListener("submit", handle(async () => {
  signedIn(await api("POST", "/api/v1/auth/email/verify", {
    body: { email: pendingEmail, code: $("verify-code").value, refresh_token_transport: "cookie" },
  }));
  show("Your email is verified and you are signed in.");
}));

// Passkeys (WebAuthn). Keyhouse hands out the options as JSON; the browser turns them
// into the binary form navigator.credentials wants, and its answer back into JSON.
// A passkey answer is the challenge_id of the options and the credential.
async function passkeyAnswer() {
  const { challenge_id, options } = await api("POST", "/api/v1/auth/passkey/options");
  const credential = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
  });
  return { challenge_id, credential: credential.toJSON() };
}

// An account with a second factor answers the password with a challenge, not tokens.
$("signin-form").addEventListener("submit", handle(async () => {
  const answer = await api("POST", "/api/v1/auth/login", {
    body: {
      email: $("signin-email").value,
      password: $("signin-password").value,
      refresh_token_transport: "cookie",
    },
  });
  if (!answer.mfa_required) {
    signedIn(answer);
    show("Signed in.");
    return;
  }
  if (!answer.passkey) throw new Error("This account needs a code from its authenticator app.");
  const token = signedIn(await api("POST", "/api/v1/auth/mfa/verify", {
    body: {
      mfa_token: answer.mfa_token,
      passkey: await passkeyAnswer(),
      refresh_token_transport: "cookie",
    },
  }));
  show(`Signed in with your password and a passkey (${token.aal}).`);
}));

$("passkey-signin").addEventListener("click", handle(async () => {
  const token = signedIn(await api("POST", "/api/v1/auth/passkey/verify", {
    body: { ...(await passkeyAnswer()), refresh_token_transport: "cookie" },
  }));
  show(`Signed in with a passkey (${token.aal}).`);
}));

async function loadPasskeys() {
  const passkeys = await api("GET", "/api/v1/me/passkeys");
  $("passkeys").replaceChildren(...passkeys.map((passkey) => {
    const item = document.createElement("li");
    const remove = document.createElement("button");
    remove.textContent = "Remove";
    remove.addEventListener("click", handle(async () => {
      await api("DELETE", `/api/v1/me/passkeys/${passkey.id}`);
      await loadPasskeys();
      show("Passkey removed.");
    }));
    item.append(`${passkey.name}, added ${new Date(passkey.created_at).toLocaleString()} `, remove);
    return item;
  }));
}

$("load-passkeys").addEventListener("click", handle(async () => {
  await loadPasskeys();
  show(`${$("passkeys").children.length} passkey(s).`);
}));

// Adding a passkey needs a recent sign-in (and the second factor, once there is one).
$("add-passkey").addEventListener("click", handle(async () => {
  const { options } = await api("POST", "/api/v1/me/passkeys/options");
  const credential = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
  });
  const added = await api("POST", "/api/v1/me/passkeys", {
    body: { credential: credential.toJSON(), name: "This browser" },
  });
  await loadPasskeys();
  show(added.recovery_codes
    ? `Passkey added. Keep these recovery codes: ${added.recovery_codes.join(" ")}`
    : "Passkey added.");
}));

$("refresh").addEventListener("click", handle(async () => {
  await refresh();
  show("The access token was refreshed with the cookie.");
}));

$("load-sessions").addEventListener("click", handle(async () => {
  const sessions = await api("GET", "/api/v1/me/sessions");
  $("sessions").replaceChildren(...sessions.map((session) => {
    const item = document.createElement("li");
    const when = new Date(session.created_at).toLocaleString();
    item.textContent = `${session.user_agent || "unknown device"}, since ${when}` +
      (session.current ? " (this one)" : "");
    return item;
  }));
  show(`${sessions.length} live session(s).`);
}));

$("logout").addEventListener("click", handle(async () => {
  await api("POST", "/api/v1/auth/logout", { body: {} });
  signedOut("Signed out: the refresh cookie is gone.");
}));

// Sign in with a provider: the browser goes to Keyhouse, then to the provider, and comes
// back here with a one-time code, which only this tab can redeem: it holds the PKCE
// verifier. No token ever travels in a URL.
const OAUTH_KEY = "keyhouse-oauth";
let pendingLink = null;

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

// This page's address without what a sign-in adds to it.
function pageAddress() {
  const url = new URL(location.href);
  for (const name of ["code", "state", "error"]) url.searchParams.delete(name);
  return url.toString();
}

async function signInWith(provider) {
  const verifier = randomString();
  const state = randomString();
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem(OAUTH_KEY, JSON.stringify({ verifier, state, provider }));
  const query = new URLSearchParams({
    redirect_to: pageAddress(),
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
    state,
  });
  location.assign(`${KEYHOUSE}/api/v1/auth/oauth/${provider.name}/authorize?${query}`);
}

async function showProviders() {
  const providers = await api("GET", "/api/v1/auth/oauth/providers");
  $("providers").replaceChildren(...providers.map((provider) => {
    const button = document.createElement("button");
    button.id = `provider-${provider.name}`;
    button.textContent = `Sign in with ${provider.display_name}`;
    button.addEventListener("click", handle(() => signInWith(provider)));
    return button;
  }));
  $("providers-section").hidden = providers.length === 0;
}

// Back from the provider: redeem the code with the verifier, at the token endpoint.
async function finishSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(OAUTH_KEY) ?? "null");
  sessionStorage.removeItem(OAUTH_KEY);
  history.replaceState(null, "", pageAddress());
  if (!pending || params.get("state") !== pending.state) {
    throw new ApiError(400, { detail: "This sign-in was not started here." });
  }
  if (params.get("error")) {
    throw new ApiError(400, { detail: `Signing in with ${pending.provider.display_name} failed: ${params.get("error")}.` });
  }
  try {
    const answer = await api("POST", "/api/v1/auth/token/refresh", {
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: params.get("code"),
        code_verifier: pending.verifier,
        refresh_token_transport: "cookie",
      }),
      // As for a refresh: without the header, Keyhouse sets no cookie.
      headers: { "X-Keyhouse-Client": "example-spa" },
    });
    if (answer.mfa_required) throw new ApiError(200, { detail: "This account needs its second factor." });
    signedIn(answer);
    show(`Signed in with ${pending.provider.display_name}.`);
  } catch (error) {
    if (error.code !== "link_required") throw error;
    // An account already uses the address: prove it before the sign-in joins it.
    pendingLink = { token: error.problem.link_token, provider: pending.provider };
    signedOut(`An account already uses ${error.problem.email}.`);
    $("link-message").textContent =
      `Enter its password to add ${pending.provider.display_name} to it.`;
    $("link-form").hidden = false;
  }
}

$("link-form").addEventListener("submit", handle(async () => {
  signedIn(await api("POST", "/api/v1/auth/oauth/link", {
    body: {
      link_token: pendingLink.token,
      password: $("link-password").value,
      refresh_token_transport: "cookie",
    },
  }));
  $("link-form").hidden = true;
  show(`${pendingLink.provider.display_name} now signs in to this account too.`);
}));

// On load: back from a provider, finish that sign-in; otherwise a refresh cookie left by
// an earlier visit signs us straight back in.
$("keyhouse-url").textContent = KEYHOUSE;
const returned = new URLSearchParams(location.search);
const start = returned.has("state") ? finishSignIn(returned) : refresh().then(
  () => show("Signed in again with the refresh cookie."),
);
start.catch((error) => {
  if (error.status === 0) signedOut(error.message);
  else if (returned.has("state")) { signedOut(""); show(error.message, true); }
  else signedOut("Signed out. Sign up or sign in.");
});
showProviders().catch(() => {});
