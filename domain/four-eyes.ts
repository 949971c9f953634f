// Four-eyes: the person who approves a plan is neither the one who asked for it nor one who gave
// the values it runs with (POST .../input). People are compared by their token's name (a person
// may hold several tokens under one name), case and surrounding spaces aside.
import type { RequestState } from './request-state.js';

export function samePerson(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** Why `approver` may not approve the request (undefined: they may). */
export function whyNotApprover(
  state: Pick<RequestState, 'requestId' | 'requestedBy' | 'operatorActions'>,
  approver: string,
): string | undefined {
  if (state.requestedBy && samePerson(approver, state.requestedBy)) {
    return `${state.requestedBy} asked for request ${state.requestId} and cannot also approve it; another approver must`;
  }
  const supplier = state.operatorActions.find((action) => action.action === 'input' && samePerson(action.by, approver));
  if (supplier)
    return `${supplier.by} gave input to request ${state.requestId} (values its plan runs with) and cannot also approve it; another approver must`;
  return undefined;
}
