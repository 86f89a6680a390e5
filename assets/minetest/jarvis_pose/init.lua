-- jarvis_pose: ground truth for jarvis-play's tests and demo.
--
-- Writes <world>/jarvis_pose.jsonl, one JSON object per line:
--   {"k":"pose","t":<s>,"p":[x,y,z],"yaw":<rad>,"pitch":<rad>,"c":{"up":..,"dig":..,...}}  every server step
--   {"k":"dig","t":..,"node":"default:stone","at":[x,y,z]}                                   on every dug node
--   {"k":"ack","t":..,"id":N}                                                                 after a command
-- Reads <world>/jarvis_cmd.txt (written atomically by Python, removed here once executed), lines:
--   id N | tp x y z yaw_deg pitch_deg | setnode x y z name
-- With the setting jarvis_arena = true it builds a flat stone platform high in the air and puts the
-- player on it, so tests start from the same place whatever the map generator made.

local worldpath = minetest.get_worldpath()
local log = io.open(worldpath .. "/jarvis_pose.jsonl", "w")
local cmd_path = worldpath .. "/jarvis_cmd.txt"
local arena = minetest.settings:get_bool("jarvis_arena", false)
local ARENA_Y = 100
local ARENA_R = 24
local arena_ready = false
local start = minetest.get_us_time()

local function now()
	return (minetest.get_us_time() - start) / 1e6
end

local function write(obj)
	obj.t = now()
	log:write(minetest.write_json(obj) .. "\n")
	log:flush()
end

local function build_arena(player)
	local p1 = {x = -ARENA_R, y = ARENA_Y - 2, z = -ARENA_R}  -- two layers of floor: a dug hole has a bottom
	local p2 = {x = ARENA_R, y = ARENA_Y + 4, z = ARENA_R}
	minetest.emerge_area(p1, p2, function(_, _, remaining)
		if remaining > 0 then
			return
		end
		local vm = minetest.get_voxel_manip()
		local e1, e2 = vm:read_from_map(p1, p2)
		local area = VoxelArea:new({MinEdge = e1, MaxEdge = e2})
		local data = vm:get_data()
		local stone = minetest.get_content_id("default:stone")
		local air = minetest.get_content_id("air")
		for z = p1.z, p2.z do
			for y = p1.y, p2.y do
				for x = p1.x, p2.x do
					data[area:index(x, y, z)] = (y < ARENA_Y) and stone or air
				end
			end
		end
		vm:set_data(data)
		vm:write_to_map(true)
		player:set_pos({x = 0, y = ARENA_Y, z = 0})
		player:set_look_horizontal(0)
		player:set_look_vertical(0)
		arena_ready = true
		write({k = "arena"})
	end)
end

minetest.register_on_joinplayer(function(player)
	minetest.set_timeofday(0.5)
	write({k = "join", name = player:get_player_name()})
	if arena then
		minetest.after(0.1, build_arena, player)
	end
end)

minetest.register_on_dignode(function(pos, oldnode, digger)
	write({k = "dig", node = oldnode.name, at = {pos.x, pos.y, pos.z}})
end)

local function run_commands(player)
	local f = io.open(cmd_path, "r")
	if not f then
		return
	end
	local text = f:read("*a")
	f:close()
	os.remove(cmd_path)
	for line in text:gmatch("[^\n]+") do
		local words = {}
		for w in line:gmatch("%S+") do
			words[#words + 1] = w
		end
		local op = words[1]
		if op == "tp" then
			player:set_pos({x = tonumber(words[2]), y = tonumber(words[3]), z = tonumber(words[4])})
			player:set_look_horizontal(math.rad(tonumber(words[5])))
			player:set_look_vertical(math.rad(tonumber(words[6])))
		elseif op == "setnode" then
			minetest.set_node({x = tonumber(words[2]), y = tonumber(words[3]), z = tonumber(words[4])},
				{name = words[5]})
		elseif op == "id" then
			write({k = "ack", id = tonumber(words[2])})
		end
	end
end

minetest.register_globalstep(function()
	local player = minetest.get_player_by_name("singleplayer")
	if not player then
		return
	end
	if arena_ready or not arena then
		run_commands(player)
	end
	local p = player:get_pos()
	local c = player:get_player_control()
	write({
		k = "pose",
		p = {p.x, p.y, p.z},
		yaw = player:get_look_horizontal(),
		pitch = player:get_look_vertical(),
		c = {up = c.up, down = c.down, left = c.left, right = c.right, jump = c.jump,
			sneak = c.sneak, aux1 = c.aux1, dig = c.dig, place = c.place},
	})
end)

minetest.register_on_shutdown(function()
	write({k = "shutdown"})
	log:close()
end)
