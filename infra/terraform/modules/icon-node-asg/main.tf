data "aws_region" "current" {}

resource "aws_security_group" "node" {
  name        = var.name
  description = "ICON citizen nodes ${var.name}: p2p, JSON-RPC and node agent from the VPC"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = var.name })
}

resource "aws_vpc_security_group_ingress_rule" "p2p" {
  security_group_id = aws_security_group.node.id
  description       = "goloop p2p"
  ip_protocol       = "tcp"
  from_port         = 7100
  to_port           = 7100
  cidr_ipv4         = "0.0.0.0/0"
}

# The NLB preserves client addresses, so the edges' and the NLB's own health
# checks arrive from VPC addresses.
resource "aws_vpc_security_group_ingress_rule" "rpc" {
  for_each          = { for pair in setproduct(var.allowed_cidrs, [9000, 9100]) : "${pair[0]}:${pair[1]}" => pair }
  security_group_id = aws_security_group.node.id
  description       = each.value[1] == 9000 ? "JSON-RPC" : "node agent /health"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.node.id
  description       = "everything out (peers, snapshots, AWS APIs)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_iam_role_policy" "lifecycle" {
  name = "${var.name}-lifecycle"
  role = var.instance_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
      Resource = aws_autoscaling_group.nodes.arn
    }]
  })
}

locals {
  hook_name = "wait-for-sync"
  # Read by the baked roles at boot (playbooks/boot-node.yml): restore,
  # start goloop, then icon-node-ready completes the lifecycle action once
  # the agent's /health says in sync.
  boot_vars = {
    icon_node_network               = var.network
    icon_node_data_device           = "nvme-instance-store"
    icon_node_agent_store           = var.snapshot_store
    icon_node_agent_references      = var.reference_urls
    icon_node_agent_listen          = "0.0.0.0:9100"
    icon_node_lifecycle_hook        = local.hook_name
    icon_node_autoscaling_group     = var.name
    icon_node_aws_region            = data.aws_region.current.region
    icon_node_lifecycle_timeout_sec = var.sync_timeout_hours * 3600
  }
}

resource "aws_launch_template" "node" {
  name_prefix            = "${var.name}-"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.node.id]
  update_default_version = true
  user_data = base64encode(templatefile("${path.module}/user_data.sh.tftpl", {
    boot_vars = jsonencode(local.boot_vars)
  }))

  iam_instance_profile {
    name = var.instance_profile
  }

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name })
  }

  tags = var.tags
}

resource "aws_lb" "nodes" {
  name                             = var.name
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  enable_cross_zone_load_balancing = true
  tags                             = var.tags
}

# Health is the node agent's verdict (200 only when in sync with the
# references), not a TCP connect: goloop accepts connections while hours
# behind or while the data directory is being restored.
resource "aws_lb_target_group" "rpc" {
  name                 = "${var.name}-rpc"
  port                 = 9000
  protocol             = "TCP"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  deregistration_delay = 30

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "9100"
    path                = "/health"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "rpc" {
  load_balancer_arn = aws_lb.nodes.arn
  port              = 9000
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.rpc.arn
  }
  tags = var.tags
}

# No warm_pool block on purpose: a stopped warm instance loses its
# instance-store data, so a "warm" node would restore from scratch anyway.
resource "aws_autoscaling_group" "nodes" {
  name                      = var.name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.subnet_ids
  target_group_arns         = [aws_lb_target_group.rpc.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 600
  default_instance_warmup   = 600
  termination_policies      = ["OldestLaunchTemplate", "OldestInstance"]

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  # Declared inline so the first instances wait too (a separate hook
  # resource is attached only after the group has launched them). The node
  # sends heartbeats while it restores and catches up, and completes the
  # action with CONTINUE once /health answers 200; ABANDON on timeout
  # terminates it.
  initial_lifecycle_hook {
    name                 = local.hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    heartbeat_timeout    = 1800
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu"
  autoscaling_group_name = aws_autoscaling_group.nodes.name
  policy_type            = "TargetTrackingScaling"
  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target
  }
}
