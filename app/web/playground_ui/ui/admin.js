// The admin view's entry: signing in with the service key or an admin JWT, and the three sections
// (chatbots, providers, usage), all through the JavaScript SDK's client.admin.ai.
//
// The credential is kept in sessionStorage: it survives a reload of this tab and nothing else (not
// other tabs, not a restart of the browser), and "Sign out" removes it.

import { createClient } from "/playground/sdk/index.js";
import { ChatbotsSection } from "./admin_chatbots.js";
import { errorContent, isAuthFailure, setStatus } from "./admin_dom.js";
import { ProvidersSection } from "./admin_providers.js";
import { UsageSection } from "./admin_usage.js";

const STORAGE_KEY = "fluxbase.admin.credential";
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

let client = null;
const admin = () => client.admin.ai;
const onAuthFailure = (error) => {
  // 401 mid-session: the key was rotated or the JWT expired; anything else stays in its section.
  if (client && error?.status === 401) signOut(errorContent("Signed out: the server no longer accepts these credentials", error));
};
const sections = [
  new ChatbotsSection({ admin, onAuthFailure }),
  new ProvidersSection({ admin, onAuthFailure }),
  new UsageSection({ admin, onAuthFailure }),
];

const signInSection = document.getElementById("sign-in");
const signInForm = document.getElementById("sign-in-form");
const signInStatus = document.getElementById("sign-in-status");
const credentialInput = document.getElementById("credential");
const adminArea = document.getElementById("admin");
const nav = document.getElementById("admin-nav");
const signedInAs = document.getElementById("signed-in-as");
const signOutButton = document.getElementById("sign-out");

/**
 * A client for this server. The service key goes in as the SDK's key (sent as `apikey` and bearer);
 * a JWT as the auth token only, so it is sent once, as `Authorization: Bearer`.
 */
function clientFor(credential) {
  if (JWT_SHAPE.test(credential)) {
    const jwtClient = createClient(location.origin, "");
    jwtClient.setAuthToken(credential);
    return jwtClient;
  }
  return createClient(location.origin, credential);
}

/** What the header says about who is signed in; a JWT's claims are read for display only. */
function describe(credential) {
  if (!JWT_SHAPE.test(credential)) return "Signed in with the service key";
  try {
    const part = credential.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")));
    const until = typeof claims.exp === "number" ? `, until ${new Date(claims.exp * 1000).toLocaleTimeString()}` : "";
    return `Signed in with a JWT (role ${String(claims.role ?? "?")}${until})`;
  } catch {
    return "Signed in with a JWT";
  }
}

async function signIn(credential, { restoring = false } = {}) {
  const candidate = clientFor(credential);
  setStatus(signInStatus, "", restoring ? "Signing in again…" : "Checking…");
  // The chatbot list is an admin call: the credential's test and the first section's data in one.
  const { error } = await candidate.admin.ai.listChatbots();
  if (error) {
    // A refused credential is forgotten; one the server could not check (it is down) is kept for a reload.
    if (isAuthFailure(error) || !restoring) sessionStorage.removeItem(STORAGE_KEY);
    setStatus(signInStatus, "error", errorContent("Sign-in refused", error));
    showSignIn();
    credentialInput.focus();
    return false;
  }
  client = candidate;
  sessionStorage.setItem(STORAGE_KEY, credential);
  credentialInput.value = "";
  setStatus(signInStatus, "");
  signedInAs.textContent = describe(credential);
  signInSection.hidden = true;
  adminArea.hidden = false;
  nav.hidden = false;
  signedInAs.hidden = false;
  signOutButton.hidden = false;
  document.getElementById("chatbots-heading").focus({ preventScroll: true });
  await Promise.all(sections.map((section) => section.load()));
  return true;
}

function signOut(message) {
  client = null;
  sessionStorage.removeItem(STORAGE_KEY);
  for (const section of sections) section.clear();
  showSignIn();
  setStatus(signInStatus, message ? "error" : "ok", message || "Signed out: the key is gone from this tab.");
  credentialInput.focus();
}

function showSignIn() {
  adminArea.hidden = true;
  nav.hidden = true;
  signedInAs.hidden = true;
  signOutButton.hidden = true;
  signInSection.hidden = false;
}

signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const credential = credentialInput.value.trim();
  if (!credential) {
    setStatus(signInStatus, "error", "Paste the service key or an admin JWT first.");
    credentialInput.focus();
    return;
  }
  signIn(credential);
});
signOutButton.addEventListener("click", () => signOut());
document.getElementById("chatbots-heading").tabIndex = -1;

const stored = sessionStorage.getItem(STORAGE_KEY);
if (stored) signIn(stored, { restoring: true });
else showSignIn();
