// Hash routes (`#/traces/trace?id=…`): every view has a URL to bookmark and share, and the
// server only ever serves index.html.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  path: string;
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?", 2);
  return { path: path || "/", params: new URLSearchParams(query) };
}

export function href(path: string, params: Record<string, string | undefined | null> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

export function navigate(path: string, params: Record<string, string | undefined | null> = {}) {
  location.hash = href(path, params);
}

/** Changes parameters of the current view without a history entry per keystroke. */
export function replaceParams(patch: Record<string, string | undefined | null>) {
  const route = currentRoute();
  const params: Record<string, string> = {};
  route.params.forEach((value, key) => (params[key] = value));
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined || value === null || value === "") delete params[key];
    else params[key] = value;
  }
  history.replaceState(null, "", href(route.path, params));
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
