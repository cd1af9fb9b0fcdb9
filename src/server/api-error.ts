/**
 * An HTTP error in OpenAI's shape: status plus `{"error": {"message", "type", "param", "code"}}`, the
 * body OpenAI's SDKs parse into their typed errors (BadRequestError, AuthenticationError, ...).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the offending request field. */
export function badParam(param: string, message: string, code: string | null = 'invalid_value'): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}
