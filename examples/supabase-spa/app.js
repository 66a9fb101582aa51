// The Keyhouse example app written for Supabase Auth: supabase-js, unmodified, with
// Keyhouse's address as the Supabase URL. No build step: supabase.js is supabase-js's
// browser build, which defines window.supabase.
//
// As with Supabase, supabase-js keeps the session (access and refresh token) in
// localStorage and refreshes it before the access token expires.

// Keyhouse's address: ?keyhouse=... or port 8000 of this page's own host.
const KEYHOUSE =
  new URLSearchParams(location.search).get("keyhouse") ??
  `${location.protocol}//${location.hostname}:8000`;

// supabase-js sends the key as the apikey header; Keyhouse needs none and ignores it.
// Sign-in with a provider is the PKCE flow (Keyhouse puts no token in a URL); this app
// exchanges the code it comes back with itself, to show an error if there is one.
const client = supabase.createClient(KEYHOUSE, "keyhouse-needs-no-key", {
  auth: { flowType: "pkce", detectSessionInUrl: false },
});
// The providers GET /auth/v1/settings lists beside these are sign-in providers.
const NOT_PROVIDERS = ["email", "phone", "anonymous_users"];

let pendingEmail = null;

const $ = (id) => document.getElementById(id);

function show(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

function signedIn(user) {
  $("profile-email").textContent = user.email;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
}

function signedOut() {
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
}

// auth-js answers {data, error}; error.code is what to branch on.
function failed(error) {
  show(error.code ? `${error.message} (${error.code})` : error.message, true);
}

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  pendingEmail = $("signup-email").value;
  const { error } = await client.auth.signUp({
    email: pendingEmail,
    password: $("signup-password").value,
  });
  if (error) return failed(error);
  $("verify-form").hidden = false;
  show(`Check your email: we sent a code to ${pendingEmail}.`);
});

$("verify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { data, error } = await client.auth.verifyOtp({
    email: pendingEmail,
    token: $("verify-code").value,
    type: "signup",
  });
  if (error) return failed(error);
  $("verify-form").hidden = true;
  signedIn(data.user);
  show("Your email is verified and you are signed in.");
});

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { data, error } = await client.auth.signInWithPassword({
    email: $("signin-email").value,
    password: $("signin-password").value,
  });
  if (error) return failed(error);
  signedIn(data.user);
  show("Signed in.");
});

$("refresh").addEventListener("click", async () => {
  const { data, error } = await client.auth.refreshSession();
  if (error) return failed(error);
  signedIn(data.user);
  show("The session was refreshed.");
});

$("logout").addEventListener("click", async () => {
  const { error } = await client.auth.signOut();
  if (error) return failed(error);
  signedOut();
  show("Signed out.");
});

// A button per provider: off to it, and back to this page with ?code=...
async function showProviders() {
  const response = await fetch(`${KEYHOUSE}/auth/v1/settings`);
  const { external } = await response.json();
  for (const [name, enabled] of Object.entries(external)) {
    if (!enabled || NOT_PROVIDERS.includes(name)) continue;
    const button = document.createElement("button");
    button.id = `provider-${name}`;
    button.textContent = `Sign in with ${name}`;
    button.addEventListener("click", async () => {
      const back = new URL(location.href);
      back.search = `?keyhouse=${encodeURIComponent(KEYHOUSE)}`;
      const { error } = await client.auth.signInWithOAuth({
        provider: name,
        options: { redirectTo: back.toString() },
      });
      if (error) failed(error);
    });
    $("provider-buttons").append(button);
  }
}

// Back from a provider: exchange the code (once: drop it from the address first).
async function finishProviderSignIn(params) {
  const back = new URL(location.href);
  back.searchParams.delete("code");
  back.searchParams.delete("error");
  history.replaceState(history.state, "", back.toString());
  if (params.has("error")) {
    signedOut();
    return failed({ message: "The provider sign-in failed", code: params.get("error") });
  }
  const { data, error } = await client.auth.exchangeCodeForSession(params.get("code"));
  if (error) {
    signedOut();
    return failed(error);
  }
  signedIn(data.user);
  show("Signed in with the provider.");
}

// On load: back from a provider, or the session supabase-js kept, checked with Keyhouse
// (getUser asks it).
async function start() {
  $("keyhouse-url").textContent = KEYHOUSE;
  await showProviders();
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) return finishProviderSignIn(params);
  const { data } = await client.auth.getSession();
  if (!data.session) {
    signedOut();
    return show("Signed out. Sign up or sign in.");
  }
  const { data: current, error } = await client.auth.getUser();
  if (error) {
    signedOut();
    return failed(error);
  }
  signedIn(current.user);
  show("Signed in again with the stored session.");
}

start();
