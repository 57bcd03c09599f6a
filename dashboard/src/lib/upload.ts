/**
 * A job upload with progress. fetch() cannot report upload progress, so this uses
 * XMLHttpRequest, with the same bearer token, refresh-on-401 and expiry as the client.
 */
import { ApiError, detailOf } from "../api/errors";
import type { Session } from "../auth/session";

export interface UploadFields {
  /** form fields sent before the file (the API reads them before the file part) */
  [name: string]: string;
}

export interface UploadHandle<T> {
  done: Promise<T>;
  abort(): void;
}

type XhrFactory = () => XMLHttpRequest;

export function uploadJob<T>(session: Session, file: File, fields: UploadFields,
                             onProgress: (sent: number, total: number) => void,
                             createXhr: XhrFactory = () => new XMLHttpRequest()): UploadHandle<T> {
  let current: XMLHttpRequest | null = null;
  let aborted = false;

  const once = () => new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const xhr = createXhr();
    current = xhr;
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", file, file.name);
    xhr.open("POST", "/api/jobs");
    const token = session.accessToken;
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(new ApiError(0, "the upload was interrupted (network error)"));
    xhr.onabort = () => reject(new ApiError(0, "the upload was cancelled"));
    xhr.send(form);
  });

  const done = (async () => {
    let r = await once();
    if (r.status === 401 && !aborted) {
      if (await session.refresh()) r = await once();
      if (r.status === 401) session.expire();
    }
    if (r.status < 200 || r.status >= 300) throw new ApiError(r.status, detailOf(r.body, r.status));
    return r.body as T;
  })();

  return {
    done,
    abort() {
      aborted = true;
      current?.abort();
    },
  };
}
