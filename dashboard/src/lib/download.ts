/** Download a job's result or original with the bearer token, then hand it to the browser. */
import { authFetch } from "../api/client";
import { ApiError, detailOf } from "../api/errors";
import type { Session } from "../auth/session";

export function filenameOf(res: Response, fallback: string): string {
  const cd = res.headers.get("Content-Disposition") ?? "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  if (star) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      /* fall through to the plain name */
    }
  }
  const plain = /filename="([^"]+)"/i.exec(cd);
  return plain ? plain[1] : fallback;
}

export async function download(session: Session, path: string, fallbackName: string): Promise<string> {
  const res = await authFetch(session)(path);
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new ApiError(res.status, detailOf(body, res.status));
  }
  const blob = await res.blob();
  const name = filenameOf(res, fallbackName);
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}
