data "aws_ami" "debian" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's official account
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
}

data "aws_subnet" "this" {
  id = var.subnet_id
}

resource "aws_security_group" "node" {
  name        = var.name
  description = "ICON citizen node ${var.name}: p2p, HTTPS JSON-RPC"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = var.name })
}

# goloop's peer-to-peer port.
resource "aws_vpc_security_group_ingress_rule" "p2p" {
  security_group_id = aws_security_group.node.id
  description       = "goloop p2p"
  ip_protocol       = "tcp"
  from_port         = 7100
  to_port           = 7100
  cidr_ipv4         = "0.0.0.0/0"
}

# 443: JSON-RPC through icon-edge behind nginx; 80: ACME http-01 + redirect.
resource "aws_vpc_security_group_ingress_rule" "web" {
  for_each          = toset(["80", "443"])
  security_group_id = aws_security_group.node.id
  description       = "HTTP(S) ${each.key}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each          = toset(var.ssh_cidrs)
  security_group_id = aws_security_group.node.id
  description       = "SSH"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.key
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.node.id
  description       = "everything out (peers, snapshots, packages)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

locals {
  # What the Ansible roles read at first boot (site-single.yml).
  ansible_vars = {
    icon_node_network        = var.network
    icon_node_data_device    = var.storage == "nvme" ? "nvme-instance-store" : "/dev/xvdf"
    icon_node_agent_store    = var.snapshot_store
    icon_edge_tls_domain     = var.hostname
    icon_edge_acme_email     = var.acme_email
    icon_edge_region         = data.aws_subnet.this.availability_zone
    icon_edge_upstreams      = ["http://127.0.0.1:9000"]
    icon_node_agent_node_url = "http://127.0.0.1:9000"
  }
}

resource "aws_instance" "node" {
  ami                    = var.ami_id != null ? var.ami_id : data.aws_ami.debian[0].id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.node.id]
  key_name               = var.key_name
  iam_instance_profile   = var.instance_profile
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    repo_url     = var.repo_url
    repo_ref     = var.repo_ref
    playbook     = "infra/ansible/playbooks/site-single.yml"
    ansible_vars = jsonencode(local.ansible_vars)
  })
  user_data_replace_on_change = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 30
    encrypted   = true
  }

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_ebs_volume" "data" {
  count             = var.storage == "gp3" ? 1 : 0
  availability_zone = data.aws_subnet.this.availability_zone
  size              = var.gp3_size_gb
  type              = "gp3"
  iops              = 6000
  throughput        = 400
  encrypted         = true
  tags              = merge(var.tags, { Name = "${var.name}-data" })
}

resource "aws_volume_attachment" "data" {
  count       = var.storage == "gp3" ? 1 : 0
  device_name = "/dev/xvdf"
  volume_id   = aws_ebs_volume.data[0].id
  instance_id = aws_instance.node.id
}

resource "aws_eip" "node" {
  domain   = "vpc"
  instance = aws_instance.node.id
  tags     = merge(var.tags, { Name = var.name })
}

resource "aws_route53_record" "node" {
  zone_id = var.zone_id
  name    = var.hostname
  type    = "A"
  ttl     = 300
  records = [aws_eip.node.public_ip]
}
