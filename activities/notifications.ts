// The notify activity: one notice to every configured target (webhook, ntfy, email), each attempt
// recorded in notification_deliveries. A target that fails makes the activity throw, so Temporal
// retries it (workflows/activity-proxies.ts bounds that); a target an earlier attempt reached is not
// sent again.
import { activityInfo, ApplicationFailure } from '@temporalio/activity';
import type { PrismaClient } from '../generated/prisma/client.js';
import { dashboardLink, type RequestNotice } from '../domain/notifications.js';
import { createRedactor } from '../domain/redaction.js';
import { ownSecretValues } from '../lib/child-env.js';
import type { ChiffonConfig } from '../lib/config.js';
import { deliver, displayTarget, type NotificationTarget, type TargetKind } from '../services/notifications.js';

export interface NotifyResult {
  /** The targets that have the notice (from this attempt or an earlier one). */
  delivered: TargetKind[];
}

export const NOTIFICATION_FAILED = 'NotificationFailed';

function secretsOf(target: NotificationTarget): string[] {
  let password = '';
  try {
    password = decodeURIComponent(new URL(target.url).password);
  } catch {
    // Badly encoded: the whole URL is hidden anyway.
  }
  const own = target.kind === 'webhook' ? target.secret : target.kind === 'ntfy' ? target.token : undefined;
  return [target.url, password, own ?? ''].filter(Boolean);
}

export function createNotificationActivities(config: Pick<ChiffonConfig, 'notify' | 'publicUrl'>, prisma: PrismaClient) {
  const targets: NotificationTarget[] = [
    ...(config.notify.webhook ? [{ kind: 'webhook' as const, url: config.notify.webhook.url, secret: config.notify.webhook.secret }] : []),
    ...(config.notify.ntfy ? [{ kind: 'ntfy' as const, url: config.notify.ntfy.url, token: config.notify.ntfy.token }] : []),
    ...(config.notify.email ? [{ kind: 'email' as const, ...config.notify.email }] : []),
  ];
  // A last line of defence: an error text that quotes a URL with its token, or the mail server's
  // password, is stored hidden (the targets' own secrets too, whatever environment they came from).
  const redact = createRedactor([...ownSecretValues(), ...targets.flatMap(secretsOf)]);

  return {
    async notify(notice: RequestNotice): Promise<NotifyResult> {
      if (targets.length === 0) return { delivered: [] };
      const { attempt } = activityInfo();
      const earlier = await prisma.notificationDelivery.findMany({
        where: { deliveryId: notice.deliveryId, status: 'delivered' },
        select: { targetKind: true },
      });
      const reached = new Set(earlier.map((row) => row.targetKind));
      const link = dashboardLink(config.publicUrl, notice.requestId);
      const failures: string[] = [];
      await Promise.all(
        targets
          .filter((target) => !reached.has(target.kind))
          .map(async (target) => {
            const outcome = await deliver(target, notice, link);
            const error = outcome.error ? redact.text(outcome.error) : null;
            await prisma.notificationDelivery.create({
              data: {
                requestId: notice.requestId,
                deliveryId: notice.deliveryId,
                event: notice.event,
                targetKind: target.kind,
                target: displayTarget(target.url),
                status: outcome.delivered ? 'delivered' : 'failed',
                httpStatus: outcome.httpStatus ?? null,
                error,
                attempt,
              },
            });
            if (outcome.delivered) reached.add(target.kind);
            else failures.push(`${target.kind}: ${error}`);
          }),
      );
      // Retryable: the receiver may be back by the next attempt.
      if (failures.length > 0) {
        throw ApplicationFailure.retryable(`notification ${notice.deliveryId} not delivered: ${failures.join('; ')}`, NOTIFICATION_FAILED);
      }
      return { delivered: targets.map((t) => t.kind) };
    },
  };
}
