// The real @supabase/auth-js against a live Keyhouse, through its /auth/v1/ API only.
// KEYHOUSE_URL names the server; KEYHOUSE_CODES_URL answers the codes Keyhouse sent
// (by SMTP and SMS) to an address, oldest first. Every call's result is asserted.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { test } from 'node:test'

import { GoTrueClient, isAuthApiError, isAuthWeakPasswordError } from '@supabase/auth-js'

const url = `${process.env.KEYHOUSE_URL}/auth/v1`
const PASSWORD = 'correct horse battery staple'
const seen = new Map()

function client() {
  return new GoTrueClient({ url, persistSession: false, autoRefreshToken: false })
}

// The newest code sent to `to` since the last one this suite took for it.
async function nextCode(to) {
  const taken = seen.get(to) ?? 0
  for (let tries = 0; tries < 100; tries++) {
    const response = await fetch(`${process.env.KEYHOUSE_CODES_URL}?to=${encodeURIComponent(to)}`)
    const codes = await response.json()
    if (codes.length > taken) {
      seen.set(to, codes.length)
      return codes[codes.length - 1]
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no code reached ${to}`)
}

function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const char of secret.replace(/=+$/, '')) {
    bits += alphabet.indexOf(char).toString(2).padStart(5, '0')
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)))
  const digest = createHmac('sha1', key).update(counter).digest()
  const offset = digest[digest.length - 1] & 0xf
  const value = (digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000
  return value.toString().padStart(6, '0')
}

async function signUp(email) {
  const auth = client()
  const { data, error } = await auth.signUp({ email, password: PASSWORD, options: { data: { full_name: 'Ada' } } })
  assert.equal(error, null)
  assert.equal(data.session, null)
  assert.equal(data.user.email, email)
  const verified = await auth.verifyOtp({ email, token: await nextCode(email), type: 'signup' })
  assert.equal(verified.error, null)
  return { auth, session: verified.data.session, user: verified.data.user }
}

async function signIn(email, password = PASSWORD) {
  const auth = client()
  const { data, error } = await auth.signInWithPassword({ email, password })
  assert.equal(error, null)
  return { auth, session: data.session, user: data.user }
}

test('signUp, then verifyOtp with the emailed code, signs in', async () => {
  const { auth, session, user } = await signUp('signup@example.com')
  assert.equal(user.email, 'signup@example.com')
  assert.ok(user.email_confirmed_at)
  assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] })
  assert.deepEqual(user.identities.map((identity) => identity.provider), ['email'])
  assert.deepEqual(user.user_metadata, { display_name: 'Ada' })
  assert.equal(session.token_type, 'bearer')
  assert.ok(session.expires_at > Date.now() / 1000)
  const { data } = await auth.getSession()
  assert.equal(data.session.access_token, session.access_token)
})

test('signUp refuses a weak password with its reasons', async () => {
  const { data, error } = await client().signUp({ email: 'weak@example.com', password: 'short' })
  assert.equal(data.user, null)
  assert.ok(isAuthWeakPasswordError(error))
  assert.equal(error.code, 'weak_password')
  assert.deepEqual(error.reasons, ['length'])
})

test('signInWithPassword, getUser and getClaims', async () => {
  await signUp('password@example.com')
  const wrong = await client().signInWithPassword({ email: 'password@example.com', password: 'wrong password' })
  assert.ok(isAuthApiError(wrong.error))
  assert.equal(wrong.error.code, 'invalid_credentials')
  assert.equal(wrong.error.status, 400)

  const { auth, session, user } = await signIn('password@example.com')
  const fetched = await auth.getUser()
  assert.equal(fetched.error, null)
  assert.equal(fetched.data.user.id, user.id)

  const { data, error } = await auth.getClaims()
  assert.equal(error, null)
  assert.equal(data.header.alg, 'RS256')
  assert.equal(data.claims.sub, user.id)
  assert.equal(data.claims.session_id, data.claims.sid)
  assert.equal(data.claims.role, 'authenticated')
  assert.equal(data.claims.aal, 'aal1')
  assert.deepEqual(data.claims.amr.map((entry) => entry.method), ['password'])
  assert.equal(session.user.id, user.id)
})

test('refreshSession rotates the refresh token; the automatic refresh does too', async () => {
  const { auth, session } = await signIn((await signUp('refresh@example.com')).user.email)
  const refreshed = await auth.refreshSession()
  assert.equal(refreshed.error, null)
  assert.notEqual(refreshed.data.session.refresh_token, session.refresh_token)
  assert.notEqual(refreshed.data.session.access_token, session.access_token)

  // Access tokens live 120 s here: the first tick finds this one due within 3 ticks.
  const event = new Promise((resolve) => {
    auth.onAuthStateChange((name, current) => name === 'TOKEN_REFRESHED' && resolve(current))
  })
  // auth-js's timers do not keep Node running: this one does, until the event comes.
  let keepAlive
  const late = new Promise((resolve, reject) => {
    keepAlive = setTimeout(() => reject(new Error('no automatic refresh')), 20_000)
  })
  await auth.startAutoRefresh()
  const current = await Promise.race([event, late])
  clearTimeout(keepAlive)
  await auth.stopAutoRefresh()
  assert.notEqual(current.refresh_token, refreshed.data.session.refresh_token)
  assert.equal((await auth.getUser()).data.user.email, 'refresh@example.com')
})

test('signInWithOtp by email and by SMS, then verifyOtp', async () => {
  await signUp('otp@example.com')
  const auth = client()
  const sent = await auth.signInWithOtp({ email: 'otp@example.com', options: { shouldCreateUser: false } })
  assert.deepEqual(sent, { data: { user: null, session: null }, error: null })
  const byEmail = await auth.verifyOtp({ email: 'otp@example.com', token: await nextCode('otp@example.com'), type: 'email' })
  assert.equal(byEmail.error, null)
  assert.equal(byEmail.data.user.email, 'otp@example.com')
  assert.deepEqual((await auth.getClaims()).data.claims.amr.map((entry) => entry.method), ['otp'])

  const phone = '+14155550123'
  const texted = await client().signInWithOtp({ phone })
  assert.equal(texted.error, null)
  const bySms = await auth.verifyOtp({ phone, token: await nextCode(phone), type: 'sms' })
  assert.equal(bySms.error, null)
  assert.equal(bySms.data.user.phone, '14155550123')
  assert.ok(bySms.data.user.phone_confirmed_at)
  assert.deepEqual(bySms.data.user.app_metadata.providers, ['phone'])

  const wrong = await client().verifyOtp({ phone, token: '000000', type: 'sms' })
  assert.equal(wrong.error.code, 'otp_expired')
})

test('updateUser: metadata, and the password after reauthenticate', async () => {
  const { auth } = await signUp('update@example.com')
  const updated = await auth.updateUser({ data: { theme: 'dark' } })
  assert.equal(updated.error, null)
  assert.deepEqual(updated.data.user.user_metadata, { display_name: 'Ada', theme: 'dark' })

  const asked = await auth.reauthenticate()
  assert.equal(asked.error, null)
  const nonce = await nextCode('update@example.com')
  const changed = await auth.updateUser({ password: 'a brand new passphrase', nonce })
  assert.equal(changed.error, null)
  assert.equal(changed.data.user.email, 'update@example.com')
  const old = await client().signInWithPassword({ email: 'update@example.com', password: PASSWORD })
  assert.equal(old.error.code, 'invalid_credentials')
  await signIn('update@example.com', 'a brand new passphrase')
})

test('updateUser({email}): the code confirms the change with the session, which verifyOtp does not send', async () => {
  const { auth, session } = await signUp('change@example.com')
  const asked = await auth.updateUser({ email: 'changed@example.com' })
  assert.equal(asked.error, null)
  const token = await nextCode('changed@example.com')
  const body = { type: 'email_change', email: 'changed@example.com', token }

  const unbound = await auth.verifyOtp(body)
  assert.equal(unbound.error.code, 'no_authorization')
  const response = await fetch(`${url}/verify`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  assert.equal(response.status, 200)
  assert.equal((await response.json()).user.email, 'changed@example.com')
  assert.equal((await auth.getUser()).data.user.email, 'changed@example.com')
})

test('resetPasswordForEmail, verifyOtp recovery, then updateUser sets the password', async () => {
  await signUp('recover@example.com')
  const auth = client()
  const asked = await auth.resetPasswordForEmail('recover@example.com')
  assert.deepEqual(asked, { data: {}, error: null })
  const events = []
  auth.onAuthStateChange((name) => events.push(name))
  const { data, error } = await auth.verifyOtp({
    email: 'recover@example.com',
    token: await nextCode('recover@example.com'),
    type: 'recovery',
  })
  assert.equal(error, null)
  assert.equal(data.user.email, 'recover@example.com')
  assert.ok(events.includes('PASSWORD_RECOVERY'))
  const changed = await auth.updateUser({ password: 'a recovered passphrase' })
  assert.equal(changed.error, null)
  await signIn('recover@example.com', 'a recovered passphrase')
})

test('signOut in each scope', async () => {
  await signUp('signout@example.com')
  const [first, second, third] = await Promise.all([1, 2, 3].map(() => signIn('signout@example.com')))

  assert.deepEqual(await first.auth.signOut({ scope: 'others' }), { error: null })
  assert.equal((await first.auth.getUser()).data.user.email, 'signout@example.com')
  const ended = await client().getUser(second.session.access_token)
  assert.equal(ended.error.name, 'AuthSessionMissingError')
  assert.equal((await client().getUser(third.session.access_token)).error.name, 'AuthSessionMissingError')

  assert.deepEqual(await first.auth.signOut({ scope: 'local' }), { error: null })
  assert.equal((await first.auth.getSession()).data.session, null)
  assert.equal((await client().getUser(first.session.access_token)).error.name, 'AuthSessionMissingError')

  const [fourth, fifth] = await Promise.all([1, 2].map(() => signIn('signout@example.com')))
  assert.deepEqual(await fourth.auth.signOut(), { error: null })
  assert.equal((await fourth.auth.getSession()).data.session, null)
  assert.equal((await client().getUser(fifth.session.access_token)).error.name, 'AuthSessionMissingError')
})

test('mfa.enroll, challenge, verify and unenroll', async () => {
  const { auth } = await signUp('mfa@example.com')
  const enrolled = await auth.mfa.enroll({ factorType: 'totp', friendlyName: 'Phone' })
  assert.equal(enrolled.error, null)
  assert.equal(enrolled.data.type, 'totp')
  assert.equal(enrolled.data.friendly_name, 'Phone')
  assert.ok(enrolled.data.totp.qr_code.startsWith('data:image/svg+xml;utf-8,<svg'))
  assert.ok(enrolled.data.totp.uri.startsWith('otpauth://totp/'))

  const challenge = await auth.mfa.challenge({ factorId: enrolled.data.id })
  assert.equal(challenge.error, null)
  assert.ok(challenge.data.expires_at > Date.now() / 1000)
  const wrong = await auth.mfa.verify({ factorId: enrolled.data.id, challengeId: challenge.data.id, code: '000000' })
  assert.equal(wrong.error.code, 'mfa_verification_failed')
  const verified = await auth.mfa.verify({
    factorId: enrolled.data.id,
    challengeId: challenge.data.id,
    code: totp(enrolled.data.totp.secret),
  })
  assert.equal(verified.error, null)
  assert.ok(verified.data.access_token)
  // The account's first factor: its recovery codes come beside the session, this once.
  assert.equal(verified.data.recovery_codes.length, 10)

  const level = await auth.mfa.getAuthenticatorAssuranceLevel()
  assert.equal(level.data.currentLevel, 'aal2')
  assert.equal(level.data.nextLevel, 'aal2')
  assert.deepEqual(level.data.currentAuthenticationMethods.map((entry) => entry.method), ['otp', 'totp'])
  const factors = await auth.mfa.listFactors()
  assert.deepEqual(factors.data.totp.map((factor) => factor.status), ['verified'])

  const removed = await auth.mfa.unenroll({ factorId: enrolled.data.id })
  assert.equal(removed.error, null)
  assert.equal(removed.data.id, enrolled.data.id)
  assert.deepEqual((await auth.mfa.listFactors()).data.all, [])
})

// An account with an authenticator app, enrolled and confirmed; returns its factor and secret.
async function signUpWithTotp(email) {
  const { auth } = await signUp(email)
  const enrolled = await auth.mfa.enroll({ factorType: 'totp', friendlyName: 'Phone' })
  assert.equal(enrolled.error, null)
  const challenge = await auth.mfa.challenge({ factorId: enrolled.data.id })
  const confirmed = await auth.mfa.verify({
    factorId: enrolled.data.id,
    challengeId: challenge.data.id,
    code: totp(enrolled.data.totp.secret),
  })
  assert.equal(confirmed.error, null)
  return { factorId: enrolled.data.id, secret: enrolled.data.totp.secret }
}

test('signInWithPassword with a second factor: aal1 until mfa.challenge and mfa.verify', async () => {
  const { factorId, secret } = await signUpWithTotp('mfa-signin@example.com')
  const { auth, session, user } = await signIn('mfa-signin@example.com')
  assert.ok(session.access_token)
  assert.deepEqual(user.factors.map((factor) => factor.status), ['verified'])

  const before = await auth.mfa.getAuthenticatorAssuranceLevel()
  assert.equal(before.error, null)
  assert.equal(before.data.currentLevel, 'aal1')
  assert.equal(before.data.nextLevel, 'aal2')
  assert.deepEqual(before.data.currentAuthenticationMethods.map((entry) => entry.method), ['password'])
  assert.equal((await auth.getUser()).data.user.id, user.id)
  // The pending token is no access token for Keyhouse's own API.
  const me = await fetch(`${process.env.KEYHOUSE_URL}/api/v1/me`, {
    headers: { Authorization: `Bearer ${session.access_token}` },
  })
  assert.equal(me.status, 401)
  const update = await auth.updateUser({ data: { plan: 'pro' } })
  assert.equal(update.error.code, 'insufficient_aal')

  const challenge = await auth.mfa.challenge({ factorId })
  assert.equal(challenge.error, null)
  // The code of the next time-step: the enrolment spent the current one.
  const verified = await auth.mfa.verify({ factorId, challengeId: challenge.data.id, code: totp(secret, Date.now() + 30_000) })
  assert.equal(verified.error, null)
  assert.notEqual(verified.data.access_token, session.access_token)

  const after = await auth.mfa.getAuthenticatorAssuranceLevel()
  assert.equal(after.data.currentLevel, 'aal2')
  assert.equal(after.data.nextLevel, 'aal2')
  assert.equal((await auth.getUser()).data.user.id, user.id)
  const claims = await auth.getClaims()
  assert.equal(claims.error, null)
  assert.equal(claims.data.claims.aal, 'aal2')
  assert.equal(claims.data.claims.sub, user.id)
  const meNow = await fetch(`${process.env.KEYHOUSE_URL}/api/v1/me`, {
    headers: { Authorization: `Bearer ${verified.data.access_token}` },
  })
  assert.equal(meNow.status, 200)

  // The spent sign-in works no more, and its refresh token starts no session.
  assert.equal((await client().getUser(session.access_token)).error.name, 'AuthSessionMissingError')
  const refused = await client().refreshSession({ refresh_token: session.refresh_token })
  assert.equal(refused.error.code, 'refresh_token_not_found')
  assert.equal(refused.data.session, null)
})

test('setSession takes a session signed in at /api/v1/', async () => {
  await signUp('set-session@example.com')
  const response = await fetch(`${process.env.KEYHOUSE_URL}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'set-session@example.com', password: PASSWORD }),
  })
  assert.equal(response.status, 200)
  const native = await response.json()

  const auth = client()
  const { data, error } = await auth.setSession({ access_token: native.access_token, refresh_token: native.refresh_token })
  assert.equal(error, null)
  assert.equal(data.user.email, 'set-session@example.com')
  assert.equal(data.session.access_token, native.access_token)
  const refreshed = await auth.refreshSession()
  assert.equal(refreshed.error, null)
  assert.notEqual(refreshed.data.session.refresh_token, native.refresh_token)
  assert.equal((await auth.getUser()).data.user.email, 'set-session@example.com')
})

// Social sign-in with the OpenID provider on loopback (KEYHOUSE_OIDC_ISSUER), configured
// in Keyhouse as "local"; the browser's part is played by following the redirects.
const APP_URL = 'http://app.test/signed-in'

function pkceClient() {
  return new GoTrueClient({ url, persistSession: false, autoRefreshToken: false, flowType: 'pkce' })
}

async function redirected(response, status = 302) {
  assert.equal(response.status, status, await response.text())
  return response.headers.get('location')
}

// Sign in at the provider as `sub` from its authorization URL, follow Keyhouse's
// callback, and answer the `code` the app gets back at redirectTo.
async function consentAndReturn(providerUrl, sub, email) {
  const person = await fetch(`${process.env.KEYHOUSE_OIDC_ISSUER}/users/${sub}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, email_verified: true }),
  })
  assert.equal(person.status, 204)
  const consent = await fetch(providerUrl, { method: 'POST', body: new URLSearchParams({ sub }), redirect: 'manual' })
  const callback = await redirected(consent)
  assert.ok(callback.startsWith(`${process.env.KEYHOUSE_URL}/api/v1/auth/oauth/local/callback?`))
  const back = new URL(await redirected(await fetch(callback, { redirect: 'manual' })))
  assert.equal(`${back.origin}${back.pathname}`, APP_URL)
  return back.searchParams.get('code')
}

test('signInWithIdToken with an ID token from the provider', async () => {
  const auth = client()
  const { data, error } = await auth.signInWithIdToken({ provider: 'local', token: process.env.KEYHOUSE_ID_TOKEN })
  assert.equal(error, null)
  assert.equal(data.user.email, 'native@example.com')
  assert.deepEqual(data.user.app_metadata.providers, ['email', 'local'])
  assert.equal(data.user.identities.find((identity) => identity.provider === 'local').id, 'native-person')
  const claims = await auth.getClaims()
  assert.deepEqual(claims.data.claims.amr.map((entry) => entry.method), ['oauth'])

  const refused = await client().signInWithIdToken({ provider: 'local', token: 'not.an.id-token' })
  assert.equal(refused.data.session, null)
  assert.equal(refused.error.code, 'id_token_invalid')
})

test('signInWithOAuth (pkce) through the redirects, then exchangeCodeForSession', async () => {
  const auth = pkceClient()
  const started = await auth.signInWithOAuth({ provider: 'local', options: { redirectTo: APP_URL, skipBrowserRedirect: true } })
  assert.equal(started.error, null)
  assert.ok(started.data.url.startsWith(`${url}/authorize?provider=local&redirect_to=`))
  const providerUrl = await redirected(await fetch(started.data.url, { redirect: 'manual' }))
  assert.ok(providerUrl.startsWith(`${process.env.KEYHOUSE_OIDC_ISSUER}/`))
  const code = await consentAndReturn(providerUrl, 'browser-person', 'browser@example.com')

  const { data, error } = await auth.exchangeCodeForSession(code)
  assert.equal(error, null)
  assert.equal(data.user.email, 'browser@example.com')
  assert.ok(data.session.access_token)
  assert.equal((await auth.getSession()).data.session.access_token, data.session.access_token)
  const replayed = await pkceClient().exchangeCodeForSession(code)
  assert.equal(replayed.data.session, null)
  assert.equal(replayed.error.name, 'AuthPKCECodeVerifierMissingError')
})

test('linkIdentity, getUserIdentities and unlinkIdentity, never the last', async () => {
  const auth = pkceClient()
  const started = await auth.signInWithOAuth({ provider: 'local', options: { redirectTo: APP_URL, skipBrowserRedirect: true } })
  const providerUrl = await redirected(await fetch(started.data.url, { redirect: 'manual' }))
  const signedIn = await auth.exchangeCodeForSession(await consentAndReturn(providerUrl, 'link-first', 'link@example.com'))
  assert.equal(signedIn.error, null)

  const linking = await auth.linkIdentity({ provider: 'local', options: { redirectTo: APP_URL, skipBrowserRedirect: true } })
  assert.equal(linking.error, null)
  assert.ok(linking.data.url.startsWith(`${process.env.KEYHOUSE_OIDC_ISSUER}/`))
  const linked = await auth.exchangeCodeForSession(await consentAndReturn(linking.data.url, 'link-second', 'link@example.com'))
  assert.equal(linked.error, null)
  assert.equal(linked.data.user.id, signedIn.data.user.id)

  const listed = await auth.getUserIdentities()
  const local = listed.data.identities.filter((identity) => identity.provider === 'local')
  assert.deepEqual(local.map((identity) => identity.id).sort(), ['link-first', 'link-second'])
  const unlinked = await auth.unlinkIdentity(local[0])
  assert.equal(unlinked.error, null)
  const left = (await auth.getUserIdentities()).data.identities.filter((identity) => identity.provider === 'local')
  assert.deepEqual(left.map((identity) => identity.id), [local[1].id])
  const last = await auth.unlinkIdentity(left[0])
  assert.equal(last.error.code, 'single_identity_not_deletable')
})
