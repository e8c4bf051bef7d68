import { KiteError } from '@kite/common';
import type { Position, Span } from './ast';

/**
 * Thrown when a filter expression cannot be parsed or type-checked. A KiteError of kind ExpressionInvalid (so it
 * reaches SDKs as Milvus's invalid-parameter error); `position` points at the offending token when known (offset
 * 0-based, line and column 1-based) and the message repeats it as "line L, column C".
 */
export class ExprError extends KiteError {
  readonly position?: Position;
  /** The bare description, without the expression and position. */
  readonly detail: string;

  constructor(detail: string, text: string, position?: Position) {
    super('ExpressionInvalid', formatMessage(detail, text, position));
    this.name = 'ExprError';
    this.detail = detail;
    if (position !== undefined) this.position = { ...position };
  }
}

function formatMessage(detail: string, text: string, position?: Position): string {
  const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  const where = position === undefined ? '' : ` at line ${position.line}, column ${position.column}`;
  return `invalid filter expression ${JSON.stringify(shown)}${where}: ${detail}`;
}

/** Thrown inside the checker; parseExpr attaches the expression text. */
export class CheckError extends Error {
  constructor(
    message: string,
    readonly loc?: Span,
  ) {
    super(message);
  }
}
