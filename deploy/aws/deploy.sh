#!/usr/bin/env bash
# Rolls a new image out to the stack of deploy/aws/tributary.yaml (aws CLI v2 and jq):
#   deploy.sh migrate IMAGE   run `tributary migrate` once on IMAGE, as a Fargate task, and fail
#                             unless it exits 0
#   deploy.sh roles IMAGE     point the api, worker and scheduler services at IMAGE and wait
#                             until each is stable (the ECS deployment circuit breaker rolls a
#                             failing one back)
# STACK (default tributary) names the CloudFormation stack whose outputs say where things are.
set -euo pipefail
command=${1:?usage: deploy.sh migrate|roles IMAGE}
image=${2:?usage: deploy.sh migrate|roles IMAGE}
stack=${STACK:-tributary}

output() {
    aws cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

# Registers a copy of FAMILY's latest task definition whose tributary container runs IMAGE;
# prints the new revision's ARN.
register() {
    local family=$1
    aws ecs describe-task-definition --task-definition "$family" --query taskDefinition --output json \
        | jq --arg image "$image" '
            .containerDefinitions |= map(if .name == "tributary" then .image = $image else . end)
            | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities,
                  .registeredAt, .registeredBy, .deregisteredAt)' \
        > "$workdir/$family.json"
    aws ecs register-task-definition --cli-input-json "file://$workdir/$family.json" \
        --query taskDefinition.taskDefinitionArn --output text
}

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
cluster=$(output ClusterName)

case $command in
migrate)
    definition=$(register "$(output MigrateTaskFamily)")
    network="awsvpcConfiguration={subnets=[$(output PrivateSubnets)],securityGroups=[$(output TaskSecurityGroup)],assignPublicIp=DISABLED}"
    task=$(aws ecs run-task --cluster "$cluster" --launch-type FARGATE --task-definition "$definition" \
        --network-configuration "$network" --query 'tasks[0].taskArn' --output text)
    echo "migrating with $task"
    aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"
    code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
        --query "tasks[0].containers[?name=='tributary'].exitCode | [0]" --output text)
    [ "$code" = "0" ] || { echo "migration failed (exit code $code): see the /tributary/migrate log group" >&2; exit 1; }
    ;;
roles)
    for role in api worker scheduler; do
        definition=$(register "tributary-$role")
        aws ecs update-service --cluster "$cluster" --service "tributary-$role" --task-definition "$definition" \
            --query service.serviceName --output text
    done
    aws ecs wait services-stable --cluster "$cluster" --services tributary-api tributary-worker tributary-scheduler
    ;;
*)
    echo "usage: deploy.sh migrate|roles IMAGE" >&2
    exit 2
    ;;
esac
