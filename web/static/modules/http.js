// The access token and the HTTP JSON API, errors carried as ApiError(code, message, status).

export const TOKEN_KEY = "stemcast.token";

export function readToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    localStorage.setItem(TOKEN_KEY, fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  return localStorage.getItem(TOKEN_KEY) || "";
}
// The token, where the server asks for one; the page's token form changes it.
export const auth = { token: readToken() };

export function withToken(path) {
  if (!auth.token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(auth.token)}`;
}

export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (auth.token) headers.set("Authorization", `Bearer ${auth.token}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    throw new ApiError("CONNECTION", `could not reach the server (${err.message})`, 0);
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(error.code || `HTTP_${response.status}`,
      error.message || `the server answered ${response.status} ${response.statusText}`,
      response.status);
  }
  return body;
}

