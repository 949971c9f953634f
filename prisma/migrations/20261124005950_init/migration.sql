-- CreateTable
CREATE TABLE "requests" (
    "id" TEXT NOT NULL,
    "workflow_id" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "intents" JSONB NOT NULL,
    "plan" JSONB,
    "plan_id" TEXT,
    "approver" TEXT,
    "approved" BOOLEAN,
    "decision_comment" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tasks" (
    "id" TEXT NOT NULL,
    "request_id" TEXT NOT NULL,
    "plan_id" TEXT NOT NULL,
    "step_index" INTEGER NOT NULL,
    "playbook" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "exit_code" INTEGER,
    "resources" JSONB,
    "result" JSONB,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "audit_commit" TEXT,
    "audit_path" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "playbook_suggestions" (
    "id" TEXT NOT NULL,
    "task_id" TEXT NOT NULL,
    "playbook" TEXT NOT NULL,
    "rule" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "severity" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "line" INTEGER,
    "status" TEXT NOT NULL DEFAULT 'open',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "playbook_suggestions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "requests_workflow_id_key" ON "requests"("workflow_id");

-- CreateIndex
CREATE INDEX "requests_status_idx" ON "requests"("status");

-- CreateIndex
CREATE INDEX "tasks_request_id_idx" ON "tasks"("request_id");

-- CreateIndex
CREATE INDEX "tasks_status_finished_at_idx" ON "tasks"("status", "finished_at");

-- CreateIndex
CREATE INDEX "playbook_suggestions_playbook_status_idx" ON "playbook_suggestions"("playbook", "status");

-- CreateIndex
CREATE INDEX "playbook_suggestions_task_id_idx" ON "playbook_suggestions"("task_id");

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "requests"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "playbook_suggestions" ADD CONSTRAINT "playbook_suggestions_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;
